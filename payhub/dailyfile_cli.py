"""``payhub daily-file``: an Ente's delivery targets, building a day's files, deliveries
(added to payhub.cli). See docs/operators/daily-file.md."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa

from hub.db import engine_from_config, make_session_factory


def _factory(ctx: click.Context) -> tuple[Any, Any]:
    settings = ctx.obj["load_settings"]()  # payhub.cli's one place for settings
    return settings, make_session_factory(engine_from_config(settings))


def _ente(session: Any, fiscal_code: str) -> Any:
    from hub.models import Ente

    ente = session.scalar(sa.select(Ente).where(Ente.fiscal_code == fiscal_code))
    if ente is None:
        raise click.ClickException(f"no Ente {fiscal_code}")
    return ente


def _day(value: str | None) -> dt.date:
    from hub import clock

    if not value:
        return clock.today() - dt.timedelta(days=1)
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("a day as YYYY-MM-DD") from None


@click.group("daily-file")
def daily_file_group() -> None:
    """The accounting office's daily file: targets, builds, deliveries."""


@daily_file_group.command("build")
@click.option("--day", help="The business day (YYYY-MM-DD); default yesterday.")
@click.option("--ente", "fiscal_code", help="Only this Ente (fiscal code); default every one.")
@click.pass_context
def build(ctx: click.Context, day: str | None, fiscal_code: str | None) -> None:
    """Build a day's files now, in this process; their deliveries go through the outbox (the
    scheduler's sweep sends them to the workers)."""
    from hub.dailyfile import files
    from hub.models import Ente

    settings, factory = _factory(ctx)
    business_day = _day(day)
    directory = Path(settings.daily_file_dir)
    with factory() as session:
        if fiscal_code:
            ids = [_ente(session, fiscal_code).id]
        else:
            ids = files.enti_of_day(session, business_day)
    for ente_id in ids:
        with factory.begin() as session:
            ente = session.get(Ente, ente_id)
            for file, new in files.build_day(session, ente, business_day, directory):
                click.echo(
                    f"{ente.fiscal_code} {file.service_code} {business_day} v{file.version} "
                    f"{'built' if new else 'unchanged'} {file.payments} payments {file.file_name}"
                )


@daily_file_group.group("target")
def target_group() -> None:
    """Where an Ente's files are delivered."""


@target_group.command("add")
@click.argument("fiscal_code")
@click.argument("kind", type=click.Choice(["sftp", "ftps", "email"]))
@click.option("--service", help="Only this service's files (default: every service).")
@click.option("--host")
@click.option("--port", type=int)
@click.option("--user", "username")
@click.option("--directory", help="Remote folder the files go into.")
@click.option("--host-key", help="SFTP: the server's public host key (as ssh-keyscan prints).")
@click.option(
    "--key-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="SFTP: a private key file (unencrypted OpenSSH/PEM) to log in with.",
)
@click.option("--recipient", "recipients", multiple=True, help="E-mail: an address (repeat).")
@click.pass_context
def target_add(
    ctx: click.Context,
    fiscal_code: str,
    kind: str,
    service: str | None,
    host: str | None,
    port: int | None,
    username: str | None,
    directory: str | None,
    host_key: str | None,
    key_file: Path | None,
    recipients: tuple[str, ...],
) -> None:
    """Add a delivery target. The password, when one is needed, is read from the
    DAILYFILE_TARGET_PASSWORD environment variable or asked (never an option: shell history)."""
    import os

    from hub import http
    from hub.dailyfile import targets

    settings, factory = _factory(ctx)
    password = None
    if kind in ("sftp", "ftps") and not key_file:
        password = os.environ.get("DAILYFILE_TARGET_PASSWORD") or click.prompt(
            "Password", hide_input=True
        )
    with factory.begin() as session:
        ente = _ente(session, fiscal_code)
        try:
            target = targets.add_target(
                session,
                ente,
                kind,
                service_code=service,
                host=host,
                port=port,
                username=username,
                password=password,
                private_key=key_file.read_text() if key_file else None,
                pinned_host_key=host_key,
                directory=directory,
                recipients=list(recipients),
                policy=http.UrlPolicy.from_settings(settings),
            )
        except targets.BadTarget as exc:
            raise click.ClickException(str(exc)) from None
        _audit(session, "cli.daily_file_target_add", target)
        click.echo(f"target {target.id}: {target.where}")


@target_group.command("list")
@click.argument("fiscal_code")
@click.pass_context
def target_list(ctx: click.Context, fiscal_code: str) -> None:
    """An Ente's targets (never their secrets)."""
    from hub.dailyfile import targets
    from hub.models import DailyFileTarget

    _, factory = _factory(ctx)
    with factory() as session:
        ente = _ente(session, fiscal_code)
        for target in session.scalars(
            sa.select(DailyFileTarget).where(DailyFileTarget.ente_id == ente.id)
        ):
            shown = targets.describe(target)
            click.echo(
                f"{shown['id']} {shown['kind']} {shown['service_code'] or '*'} {shown['where']} "
                f"{shown['authentication'] or ''} {'enabled' if shown['enabled'] else 'disabled'}"
            )


@target_group.command("disable")
@click.argument("target_id", type=int)
@click.pass_context
def target_disable(ctx: click.Context, target_id: int) -> None:
    from hub.dailyfile import targets
    from hub.errors import Conflict
    from hub.models import DailyFileTarget

    _, factory = _factory(ctx)
    with factory.begin() as session:
        target = session.get(DailyFileTarget, target_id)
        if target is None:
            raise click.ClickException(f"no target {target_id}")
        try:
            targets.disable(session, target)
        except Conflict as exc:
            raise click.ClickException(str(exc)) from None
        _audit(session, "cli.daily_file_target_disable", target)


def _audit(session: Any, action: str, target: Any) -> None:
    """Every change of a target is audited, as from the dashboard and the API."""
    from hub.dailyfile import targets
    from hub.tenants import audit

    audit.record(
        session,
        actor="cli",
        action=action,
        target=f"daily_file_target:{target.id}",
        ente_id=target.ente_id,
        detail=targets.audit_detail(target),
    )


@daily_file_group.command("missing")
@click.option("--day", help="The business day (YYYY-MM-DD); default yesterday.")
@click.pass_context
def missing(ctx: click.Context, day: str | None) -> None:
    """The Enti with a target that did not receive the day's files, and why."""
    from hub.dailyfile import delivery

    _, factory = _factory(ctx)
    with factory() as session:
        for row in delivery.undelivered_enti(session, _day(day)):
            click.echo(f"{row.ente_fiscal_code} {row.reason} {row.ente_name}")


@daily_file_group.command("redeliver")
@click.argument("delivery_id", type=int)
@click.pass_context
def redeliver(ctx: click.Context, delivery_id: int) -> None:
    """Deliver a file to a target again (a new round of attempts)."""
    from hub.dailyfile import delivery
    from hub.errors import Conflict
    from hub.models import DailyFileDelivery

    _, factory = _factory(ctx)
    with factory.begin() as session:
        row = session.get(DailyFileDelivery, delivery_id)
        if row is None:
            raise click.ClickException(f"no delivery {delivery_id}")
        try:
            delivery.redeliver(session, row)
        except Conflict as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"delivery {delivery_id} queued again")
