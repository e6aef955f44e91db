"""``payhub``: the command line (click). Every command reads the same .ini as the web app."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
from plaster import get_settings
from sqlalchemy.engine import make_url

from hub import config as hub_config
from hub.db import engine_from_config, make_engine, make_session_factory
from payhub.activation import activation_group  # issue 15: activation requests
from payhub.admin_cli import admin_group  # administration (issue 15)
from payhub.dailyfile_cli import daily_file_group  # issue 18: the daily file
from sla_monitor.cli import (
    probe_command,  # probe: issue 19
    sla_group,
)

DEFAULT_CONFIG = os.environ.get("PAYHUB_CONFIG", "development.ini")


def read_settings(config_uri: str) -> hub_config.Config:
    """The settings of the scheduler and the commands, built as the web app and the worker
    build theirs (logging and the CAs of outgoing calls configured)."""
    return hub_config.start(get_settings(config_uri, "app:main"))


@click.group()
@click.option(
    "-c",
    "--config",
    "config_uri",
    default=DEFAULT_CONFIG,
    show_default=True,
    envvar="PAYHUB_CONFIG",
    help="The .ini file (DATABASE_URL / REDIS_URL override).",
)
@click.pass_context
def main(ctx: click.Context, config_uri: str) -> None:
    """payhub, the pagoPA payment hub."""
    # subcommand groups of other packages (sla_monitor.cli) read the settings through this,
    # without importing the CLI that imports them
    ctx.obj = {"config_uri": config_uri, "load_settings": lambda: _settings(ctx)}


def _settings(ctx: click.Context) -> hub_config.Config:
    if "settings" not in ctx.obj:
        try:
            ctx.obj["settings"] = read_settings(ctx.obj["config_uri"])
        except hub_config.SettingsError as exc:  # say which setting, no traceback
            raise click.ClickException(f"payhub will not start: {exc}") from None
    return ctx.obj["settings"]


def _factory(ctx: click.Context) -> Any:
    """A session factory on the engine of the settings (with the pool settings)."""
    return make_session_factory(engine_from_config(_settings(ctx)))


def _ensure_sqlite_dir(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


@main.command()
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Bring the database schema up to date (Alembic)."""
    from hub.migrate import upgrade

    config = _settings(ctx)
    _ensure_sqlite_dir(config.sqlalchemy_url)
    upgrade(make_engine(config.sqlalchemy_url))
    click.echo("database is up to date")


@main.command("seed-demo")
@click.pass_context
def seed_demo(ctx: click.Context) -> None:
    """Load the demo intermediary, station, Enti, services and positions (idempotent)."""
    from actors import broker as broker_mod
    from actors import outbox
    from hub.seed import seed_demo as seed

    factory = _factory(ctx)
    broker_mod.setup(_settings(ctx).replace(embedded_worker=False), factory)
    outbox.install_relay(factory)
    with factory.begin() as session:
        result = seed(session)
    click.echo(f"demo data: {result['created']} positions created")


@main.command()
@click.option("--processes", default=2, show_default=True)
@click.option("--threads", default=8, show_default=True)
@click.pass_context
def worker(ctx: click.Context, processes: int, threads: int) -> None:
    """Run Dramatiq workers for the configured (Redis) broker."""
    settings = _settings(ctx)
    if settings.broker != "redis":
        raise click.UsageError(
            "workers need payhub.broker = redis (set REDIS_URL and "
            "PAYHUB_BROKER=redis); the embedded default runs one in-process"
        )
    env = {**os.environ, "PAYHUB_CONFIG": ctx.obj["config_uri"], **_worker_metrics_env(settings)}
    cmd = [
        sys.executable,
        "-m",
        "dramatiq",
        "payhub.worker_boot",
        "--processes",
        str(processes),
        "--threads",
        str(threads),
    ]
    raise SystemExit(subprocess.call(cmd, env=env))


def _worker_metrics_env(settings: hub_config.Config) -> dict[str, str]:
    """Where Dramatiq's Prometheus middleware serves (payhub.worker_metrics_port) and keeps its
    per-process files: a directory of this port, emptied at start so the counters of a previous
    run's dead processes are not added in."""
    import shutil
    import tempfile

    from actors.broker import worker_metrics_port

    port = worker_metrics_port(settings)
    if port is None:
        return {}
    directory = Path(tempfile.gettempdir()) / f"payhub-worker-metrics-{port}"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return {
        "dramatiq_prom_host": settings.worker_metrics_host,
        "dramatiq_prom_port": str(port),
        "dramatiq_prom_db": str(directory),
    }


@main.command()
@click.pass_context
def scheduler(ctx: click.Context) -> None:
    """Run the one scheduler (outbox relay and sweeper, periodic jobs) in the foreground."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    from actors import broker as broker_mod
    from actors.scheduler import add_jobs, start_relay

    settings = _settings(ctx).replace(embedded_worker=False)
    factory = _factory(ctx)  # the pool settings, as the web app's
    broker = broker_mod.setup(settings, factory)
    relay = start_relay(broker, factory, settings) is not None
    add_jobs(BlockingScheduler(), broker, factory, settings, relay=relay).start()


@main.command()
@click.option(
    "--bind",
    envvar="PAYHUB_BIND",
    default="127.0.0.1:6543",
    show_default=True,
    help="host:port: loopback behind nginx on this machine, the private address behind a "
    "balancer, never a public one.",
)
@click.option(
    "--workers",
    envvar="PAYHUB_WEB_WORKERS",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Worker processes (each with its own database pool).",
)
@click.option(
    "--threads",
    envvar="PAYHUB_WEB_THREADS",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Threads per process running requests (they wait on PostgreSQL).",
)
@click.option(
    "--max-rss",
    envvar="PAYHUB_WEB_MAX_RSS",
    type=click.IntRange(min=0),
    default=1024,
    show_default=True,
    help="MiB a worker may grow to before it is replaced (0: never).",
)
@click.pass_context
def web(ctx: click.Context, bind: str, workers: int, threads: int, max_rss: int) -> None:
    """Serve the web app in production: granian (HTTP/1.1 in Rust, WSGI), behind nginx."""
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces
    from granian.log import LogLevels

    from payhub import wsgi
    from soap.dispatch import StationConfig

    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit():
        raise click.BadParameter(f"{bind!r}: host:port", param_hint="--bind")
    uri = ctx.obj["config_uri"]
    _settings(ctx)
    try:  # what each worker would refuse when it builds the app, said once here
        config = hub_config.load(get_settings(uri, "app:main"), web=True)
        StationConfig.from_settings(config)  # an open station
    except (hub_config.SettingsError, ValueError) as exc:
        raise click.ClickException(f"payhub will not start: {exc}") from None
    # the workers build the app from the same file, wherever they start
    os.environ[wsgi.CONFIG_VARIABLE] = str(Path(uri).resolve()) if Path(uri).is_file() else uri
    Granian(
        "payhub.wsgi:app",
        factory=True,
        address=host.strip("[]"),
        port=int(port),
        interface=Interfaces.WSGI,
        http=HTTPModes.http1,
        websockets=False,
        workers=workers,
        blocking_threads=threads,
        respawn_failed_workers=True,
        workers_max_rss=max_rss or None,
        workers_kill_timeout=20,
        log_level=LogLevels.warning,
    ).serve()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=6543, show_default=True)
@click.option("--threads", default=8, show_default=True)
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, threads: int) -> None:
    """Serve the web app with waitress (development; production: ``payhub web``)."""
    import waitress
    from pyramid.paster import get_app

    _settings(ctx)
    try:
        app = get_app(ctx.obj["config_uri"], "main")
    except ValueError as exc:  # a setting that must not start: say which, no traceback
        raise click.ClickException(f"payhub will not start: {exc}") from None
    click.echo(f"payhub serving on http://{host}:{port}")
    waitress.serve(app, host=host, port=port, threads=threads, ident="payhub")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """The platform at a glance: outbox backlog, webhook deliveries, receipts per minute,
    station answer times, Redis queues (the figures of /metrics)."""
    import json

    from hub import metrics

    settings = _settings(ctx).replace(embedded_worker=False)
    engine = engine_from_config(settings)
    factory = make_session_factory(engine)
    broker = None
    if settings.broker == "redis":
        from actors import broker as broker_mod

        broker = broker_mod.setup(settings, factory)
    with factory() as session:
        figures = metrics.collect(session, broker)
    engine.dispose()
    problems = metrics.backlog_problems(
        figures.outbox_backlog, figures.outbox_oldest_age_seconds, settings
    )
    if as_json:
        click.echo(json.dumps({**figures.as_json(), "backlog_problems": problems}, indent=2))
        return
    for line in status_lines(figures, problems):
        click.echo(line)


def status_lines(f: Any, problems: list[str]) -> list[str]:
    """``payhub status`` as text, one subject a line."""
    lines = [
        f"outbox     {f.outbox_backlog} open, oldest {f.outbox_oldest_age_seconds:.0f} s, "
        f"{f.outbox_dead} dead"
    ]
    for row in f.outbox_dead_messages:
        lines.append(
            f"dead       #{row['id']} {row['actor_name']} after {row['attempts']} "
            f"sends, since {row['dead_at'][:19]}: {row['last_error'] or ''}"
            " (/ops/support: Send again)"
        )
    states = ", ".join(f"{state} {n}" for state, n in sorted(f.deliveries.items())) or "none"
    lines.append(
        f"webhooks   {states}; oldest undelivered "
        f"{f.deliveries_oldest_undelivered_age_seconds:.0f} s; "
        f"{f.deliveries_expired_claims} expired claims"
    )
    lines.append(
        f"receipts   {f.receipts_per_minute:g} per minute (last {f.receipts_window_minutes} min)"
    )
    if not f.station:
        lines.append(f"station    no answers in the last {f.station_window_minutes} min")
    for op, t in f.station.items():
        lines.append(
            f"station    {op}: {t.count} answers, mean {t.mean_seconds * 1000:.1f} ms, "
            f"max {t.max_seconds * 1000:.0f} ms, "
            f"{t.within_threshold_ratio:.1%} within 2 s"
        )
    if f.queues is None:
        lines.append("queues     in-process (stub broker)")
    for queue, kinds in (f.queues or {}).items():
        lines.append(
            f"queues     {queue}: "
            + ", ".join(f"{kind.replace('_', ' ')} {n}" for kind, n in kinds.items())
        )
    for error in f.errors:
        lines.append(f"error      {error}")
    lines.append("health     " + ("degraded: " + "; ".join(problems) if problems else "ok"))
    return lines


@main.group("ente")
def ente_group() -> None:
    """Enti creditori."""


@ente_group.command("set-logo")
@click.argument("fiscal_code")
@click.argument(
    "image", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=False
)
@click.option("--clear", is_flag=True, help="Remove the logo (notices show the initials).")
@click.pass_context
def ente_set_logo(ctx: click.Context, fiscal_code: str, image: Path | None, clear: bool) -> None:
    """Set the PNG or JPEG logo printed on the Ente's payment notices (as ``payhub admin ente
    logo``: audited with the administration's changes)."""
    from hub.admin import inputs as i
    from hub.admin import service as svc
    from hub.errors import DomainError

    if clear == (image is not None):
        raise click.UsageError("give an IMAGE or --clear")
    data = None if clear else image.read_bytes()  # type: ignore[union-attr]
    factory = _factory(ctx)
    try:
        with factory.begin() as session:
            svc.set_logo(session, svc.CLI, fiscal_code, data)
    except i.InvalidInput as exc:
        raise click.ClickException(str(exc)) from None
    except DomainError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"logo of {fiscal_code} {'removed' if clear else 'set'}")


@main.group("reconcile")
def reconcile_group() -> None:
    """Bank reconciliation: statements matched to reporting flows."""


@reconcile_group.command("statement")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--ente",
    "fiscal_code",
    required=True,
    help="Fiscal code of the Ente whose account the statement is.",
)
@click.pass_context
def reconcile_statement(ctx: click.Context, file: Path, fiscal_code: str) -> None:
    """Load a bank statement (CSV or camt.053) and reconcile its credits; loading the same
    statement again adds nothing."""
    import sqlalchemy as sa

    from hub.errors import DomainError
    from hub.models import Ente
    from hub.reconciliation import statements

    settings = _settings(ctx)
    factory = _factory(ctx)
    if settings.broker == "redis":
        # follow-up messages (webhooks) go to the workers now; with the in-process stub
        # broker they stay in the outbox for the running app's sweeper to send
        from actors import broker as broker_mod
        from actors import outbox

        broker_mod.setup(settings.replace(embedded_worker=False), factory)
        outbox.install_relay(factory)
    try:
        with factory.begin() as session:
            ente = session.scalar(sa.select(Ente).where(Ente.fiscal_code == fiscal_code))
            if ente is None:
                raise click.ClickException(f"no Ente {fiscal_code}")
            with file.open("rb") as stream:  # read as it comes (issue 21: constant memory)
                outcome = statements.load_statement(session, ente, stream, source_file=file.name)
            added, matched = len(outcome.added), outcome.matched
    except DomainError as exc:
        raise click.ClickException(f"{file.name}: {exc}") from None
    click.echo(
        f"{added} credits added ({matched} matched to a flow), {outcome.duplicates} "
        f"already loaded, {outcome.reconciled} payments reconciled, "
        f"{len(outcome.anomalies)} anomalies"
        + (f": {', '.join(sorted(set(outcome.anomalies)))}" if outcome.anomalies else "")
    )


@main.group("api-key")
def api_key() -> None:
    """API keys of Ente applications (shown once at creation, stored hashed)."""


@api_key.command("create")
@click.option("--name", required=True, help="The application the key is for.")
@click.option(
    "--ente",
    "enti",
    multiple=True,
    required=True,
    help="An Ente's fiscal code; repeat for an intermediary's key.",
)
@click.pass_context
def api_key_create(ctx: click.Context, name: str, enti: tuple[str, ...]) -> None:
    """Issue a key for one or several Enti and print it (the only time it is shown)."""
    from hub.errors import DomainError
    from hub.tenants import api_keys, audit

    factory = _factory(ctx)
    try:
        with factory.begin() as session:
            issued = api_keys.create_key(session, name, list(enti))
            audit.record(
                session,
                actor="cli",
                action="api_key.create",
                api_key_id=issued.key.id,
                target=f"api_key:{issued.key.prefix}",
                detail={"enti": list(enti)},
            )
    except DomainError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(issued.secret)


@api_key.command("revoke")
@click.argument("prefix")
@click.pass_context
def api_key_revoke(ctx: click.Context, prefix: str) -> None:
    """Revoke the key with this prefix (ph_xxxxxxxx)."""
    from hub.errors import DomainError
    from hub.tenants import api_keys, audit

    factory = _factory(ctx)
    try:
        with factory.begin() as session:
            key = api_keys.revoke_key(session, prefix)
            audit.record(
                session,
                actor="cli",
                action="api_key.revoke",
                api_key_id=key.id,
                target=f"api_key:{prefix}",
            )
    except DomainError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"revoked {prefix}")


@api_key.command("list")
@click.pass_context
def api_key_list(ctx: click.Context) -> None:
    """Every key: prefix, state, name and Enti."""
    from hub.tenants import api_keys

    factory = _factory(ctx)
    with factory() as session:
        for key in api_keys.list_keys(session):
            state = "active" if key.active else "revoked"
            enti = ",".join(e.fiscal_code for e in key.enti)
            click.echo(f"{key.prefix}\t{state}\t{key.name}\t{enti}")


@main.group("operator")
def operator_group() -> None:
    """Accounts of the dashboard at /ops/: Ente operators and support staff."""


@operator_group.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(["operator", "support", "intermediary"]), required=True)
@click.option(
    "--ente",
    "enti",
    multiple=True,
    help="An Ente's fiscal code the operator sees; repeat for several.",
)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_context
def operator_create(
    ctx: click.Context, username: str, role: str, enti: tuple[str, ...], password_stdin: bool
) -> None:
    """Create an account (the password is prompted for, or read with --password-stdin)."""
    from hub.errors import DomainError
    from hub.tenants import operators

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    factory = _factory(ctx)
    try:
        with factory.begin() as session:
            operators.create_account(session, username, password, role=role, enti=enti)
    except DomainError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {role} {username}")


@operator_group.command("disable")
@click.argument("username")
@click.pass_context
def operator_disable(ctx: click.Context, username: str) -> None:
    """Disable an account: it can no longer log in (its open sessions end at once)."""
    from hub.errors import DomainError
    from hub.tenants import operators

    factory = _factory(ctx)
    try:
        with factory.begin() as session:
            operators.disable_account(session, username)
    except DomainError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"disabled {username}")


@operator_group.command("list")
@click.pass_context
def operator_list(ctx: click.Context) -> None:
    """Every account: username, role, state, Enti, last login."""
    import sqlalchemy as sa

    from hub.models import OperatorAccount

    factory = _factory(ctx)
    with factory() as session:
        for account in session.scalars(
            sa.select(OperatorAccount).order_by(OperatorAccount.username)
        ):
            state = "enabled" if account.enabled else "disabled"
            enti = ",".join(sorted(e.fiscal_code for e in account.enti)) or "-"
            last = account.last_login_at.isoformat() if account.last_login_at else "never"
            click.echo(f"{account.username}\t{account.role}\t{state}\t{enti}\t{last}")


@main.group("notices")
def notices() -> None:
    """Payment notices (PDF, QR code, Data Matrix) for local use."""


@notices.command("render")
@click.argument("ente_fiscal_code")
@click.argument("notice_numbers", nargs=-1, required=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["pdf", "json", "qr-png", "qr-svg", "datamatrix-png", "datamatrix-svg"]),
    default="pdf",
    show_default=True,
)
@click.option(
    "--lang", type=click.Choice(["it", "it-de", "it-en"]), default="it", show_default=True
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Directory for the files.",
)
@click.pass_context
def notices_render(
    ctx: click.Context,
    ente_fiscal_code: str,
    notice_numbers: tuple[str, ...],
    fmt: str,
    lang: str,
    out_dir: Path,
) -> None:
    """Write the notice of each NOTICE_NUMBER of the Ente to OUT (one file each)."""
    import json

    import sqlalchemy as sa

    from hub.errors import DomainError
    from hub.models import Ente
    from hub.printing import codes, lookup
    from hub.printing.pdf import render_pdf

    engine = engine_from_config(_settings(ctx))
    out_dir.mkdir(parents=True, exist_ok=True)
    with make_session_factory(engine)() as session:
        ente = session.scalar(sa.select(Ente).where(Ente.fiscal_code == ente_fiscal_code))
        if ente is None:
            raise click.ClickException(f"no Ente {ente_fiscal_code}")
        for number in notice_numbers:
            try:
                doc = lookup.notice_document(session, ente, number)
            except DomainError as exc:
                raise click.ClickException(str(exc)) from None
            first = doc.first
            if fmt == "pdf":
                data, suffix = render_pdf(doc, variant=lang), "pdf"
            elif fmt == "json":
                data = json.dumps([n.as_json() for n in doc.notices], indent=2).encode()
                suffix = "json"
            else:
                symbol, suffix = fmt.split("-")
                payload = first.qr_payload if symbol == "qr" else first.datamatrix_payload
                if payload is None:
                    raise click.ClickException(f"Ente {ente_fiscal_code} has no postal account")
                data = getattr(codes, f"{symbol}_{suffix}")(payload)
            path = out_dir / f"{number}.{suffix}"
            path.write_bytes(data)
            click.echo(str(path))
    engine.dispose()


@notices.command("resume")
@click.pass_context
def notices_resume(ctx: click.Context) -> None:
    """Re-send the message of every unfinished notice batch (after a broker lost its queue)."""
    from hub.printing import batches

    engine = engine_from_config(_settings(ctx))
    with make_session_factory(engine).begin() as session:
        count = batches.resume_unfinished(session)
    engine.dispose()
    click.echo(f"{count} unfinished batch(es) queued again (sent by the outbox sweeper)")


main.add_command(sla_group)
main.add_command(activation_group)  # issue 15
main.add_command(daily_file_group)  # issue 18: the daily file
main.add_command(probe_command)  # the SLA availability probe (issue 19)
# administration (issue 15): payhub admin ...
main.add_command(admin_group)

if __name__ == "__main__":
    main()
