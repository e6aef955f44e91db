"""``payhub activation``: activation and change requests from the command line (added to
payhub.cli). Every command prints text, or JSON with ``--json`` (scripts); steps are recorded
with the actor ``cli`` (or ``--actor``)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import click

from hub.db import engine_from_config, make_session_factory
from hub.errors import DomainError


def _context(ctx: click.Context) -> tuple[Any, Any]:
    settings = ctx.obj["load_settings"]()  # payhub.cli's one place for settings
    return settings, make_session_factory(engine_from_config(settings))


def _print(data: Any, as_json: bool, text: str) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2) if as_json else text)


def _line(item: dict) -> str:
    clock = item["clock"]
    return (
        f"#{item['id']}\t{item['enteFiscalCode']}\t{item['kind']}\t{item['state']}\t"
        f"{clock['workingDaysUsed']}/{clock['targetDays']} days\t{clock['status']}\t"
        f"{item['subject']}"
    )


_json = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
_actor = click.option("--actor", default="cli", show_default=True, help="Who, for the history.")


@click.group("activation")
def activation_group() -> None:
    """Activation and change requests of the Enti, with their SLA clock."""


@activation_group.command("open")
@click.argument("ente")
@click.option(
    "--kind", type=click.Choice(["activation", "change", "deactivation"]), default="activation"
)
@click.option("--subject", required=True, help="What is asked (up to 200 characters).")
@click.option("--service", "service_code", help="The service's code, for one service only.")
@click.option("--incomplete", is_flag=True, help="Information is missing: wait for the Ente.")
@click.option("--note", help="A note for the history.")
@_actor
@_json
@click.pass_context
def open_command(
    ctx: click.Context,
    ente: str,
    kind: str,
    subject: str,
    service_code: str | None,
    incomplete: bool,
    note: str | None,
    actor: str,
    as_json: bool,
) -> None:
    """Record a request received from the Ente ENTE (its fiscal code)."""
    from hub.onboarding import requests
    from hub.onboarding.sla import Rules

    settings, factory = _context(ctx)
    try:
        with factory.begin() as session:
            opened = requests.open_request(
                session,
                ente=requests.ente_by_code(session, ente),
                kind=kind,
                subject=subject,
                actor=actor,
                service_code=service_code,
                complete=not incomplete,
                note=note,
            )
            data = requests.summary(opened, Rules.from_settings(settings).clock(opened))
    except DomainError as exc:
        raise click.ClickException(str(exc)) from None
    _print(data, as_json, f"opened {_line(data)}")


@activation_group.command("move")
@click.argument("request_id", type=int)
@click.argument("step")
@click.option("--note", help="Why, for the history.")
@click.option("--station", "station_code", help="The station, for a configuration step.")
@_actor
@_json
@click.pass_context
def move_command(
    ctx: click.Context,
    request_id: int,
    step: str,
    note: str | None,
    station_code: str | None,
    actor: str,
    as_json: bool,
) -> None:
    """Take STEP on request REQUEST_ID (configure_test, confirm_test, configure_production,
    confirm_production, close, ask_ente, wait_pagopa, resume, report_problem, reject, cancel)."""
    from hub.onboarding import requests
    from hub.onboarding.sla import Rules

    settings, factory = _context(ctx)
    try:
        with factory.begin() as session:
            requests.move(
                session, request_id, step, actor=actor, note=note, station_code=station_code
            )
            moved = requests.get_request(session, request_id)
            data = requests.summary(moved, Rules.from_settings(settings).clock(moved))
    except DomainError as exc:
        raise click.ClickException(str(exc)) from None
    _print(data, as_json, _line(data))


@activation_group.command("list")
@click.option("--ente", help="Only this Ente's requests (fiscal code).")
@click.option("--all", "everything", is_flag=True, help="Closed requests too.")
@_json
@click.pass_context
def list_command(ctx: click.Context, ente: str | None, everything: bool, as_json: bool) -> None:
    """Requests, newest first, with working days used against the target."""
    from hub.onboarding import requests
    from hub.onboarding.sla import Rules

    settings, factory = _context(ctx)
    rules = Rules.from_settings(settings)
    try:
        with factory() as session:
            ente_ids = {requests.ente_by_code(session, ente).id} if ente else None
            data = [
                requests.summary(r, rules.clock(r))
                for r in requests.list_requests(
                    session, ente_ids=ente_ids, open_only=not everything
                )
            ]
    except DomainError as exc:
        raise click.ClickException(str(exc)) from None
    _print(data, as_json, "\n".join(_line(d) for d in data) or "no request")


@activation_group.command("show")
@click.argument("request_id", type=int)
@_json
@click.pass_context
def show_command(ctx: click.Context, request_id: int, as_json: bool) -> None:
    """One request with its history."""
    from hub.onboarding import requests
    from hub.onboarding.sla import Rules

    settings, factory = _context(ctx)
    try:
        with factory() as session:
            found = requests.get_request(session, request_id)
            data = requests.summary(found, Rules.from_settings(settings).clock(found), steps=True)
    except DomainError as exc:
        raise click.ClickException(str(exc)) from None
    history = "\n".join(
        f"  {s['at']}\t{s['event']}\t{s['toState']}\t{s['actor']}\t{s['note'] or ''}"
        for s in data["steps"]
    )
    _print(data, as_json, f"{_line(data)}\n{history}")


@activation_group.command("share")
@click.option(
    "--start",
    type=click.DateTime(["%Y-%m-%d"]),
    required=True,
    help="The period's first day: YYYY-01-01, YYYY-05-01 or YYYY-09-01.",
)
@_json
@click.pass_context
def share_command(ctx: click.Context, start: dt.datetime, as_json: bool) -> None:
    """The four-month share of requests processed within the target."""
    from hub.onboarding.sla import Rules, four_month_share

    settings, factory = _context(ctx)
    rules = Rules.from_settings(settings)
    try:
        with factory() as session:
            result = four_month_share(
                session, start.date(), calendar=rules.calendar, target_days=rules.target_days
            )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--start") from None
    data = {
        "start": result.start.isoformat(),
        "end": result.end.isoformat(),
        "served": result.served,
        "withinTarget": result.within_target,
        "openLate": result.open_late,
        "share": str(result.share) if result.share is not None else None,
        "lateRequestIds": list(result.late_ids),
    }
    share = f"{result.share:.2%}" if result.share is not None else "-"
    text = (
        f"{data['start']}..{data['end']}: {result.within_target} of {result.counted} within "
        f"{rules.target_days} working days ({share})"
    )
    _print(data, as_json, text)


@activation_group.command("diagram")
def diagram_command() -> None:
    """The requests' state machine as a mermaid diagram (docs/operators/activation.md)."""
    from hub.onboarding.requests import diagram

    click.echo(diagram())
