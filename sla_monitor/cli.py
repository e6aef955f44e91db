"""``payhub sla``: the quadrimestre report and the help-desk tickets (added to payhub.cli)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from hub.db import ROME, engine_from_config, make_session_factory, utcnow


def _factory(ctx: click.Context) -> Any:
    settings = ctx.obj["load_settings"]()  # payhub.cli's one place for settings
    return settings, make_session_factory(engine_from_config(settings))


@click.group("sla")
def sla_group() -> None:
    """SLA monitor: reports and help-desk tickets."""


@sla_group.command("report")
@click.option(
    "--period", help="A quadrimestre: YYYY-Q1 (Jan–Apr), YYYY-Q2 (May–Aug), YYYY-Q3 (Sep–Dec)."
)
@click.option(
    "--from",
    "date_from",
    type=click.DateTime(["%Y-%m-%d"]),
    help="First day (Italian time), with --to instead of --period.",
)
@click.option("--to", "date_to", type=click.DateTime(["%Y-%m-%d"]), help="Last day, included.")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json", "csv"]), default="text", show_default=True
)
@click.pass_context
def report(
    ctx: click.Context,
    period: str | None,
    date_from: dt.datetime | None,
    date_to: dt.datetime | None,
    fmt: str,
) -> None:
    """Availability, answers within 2 s and p99 per operation, breaches and tickets."""
    from sla_monitor import report as report_mod

    if bool(period) == bool(date_from or date_to) or bool(date_from) != bool(date_to):
        raise click.UsageError("give --period, or both --from and --to")
    if period:
        try:
            start, end = report_mod.period_bounds(period)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--period") from None
    else:
        assert date_from is not None and date_to is not None
        start = report_mod.day_start(date_from.date())
        end = report_mod.day_start(date_to.date() + dt.timedelta(days=1))
        if end <= start:
            raise click.BadParameter("--to is before --from", param_hint="--to")
    _settings, factory = _factory(ctx)
    with factory() as session:
        built = report_mod.build(session, start, end)
    click.echo(report_mod.render(built, fmt), nl=False)


@sla_group.group("ticket")
def ticket_group() -> None:
    """Help-desk tickets; their clocks run in business hours (see the README)."""


def _policy(settings: Any) -> Any:
    from sla_monitor.tickets import TicketPolicy

    try:
        return TicketPolicy.from_settings(settings)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


def _line(t: Any) -> str:
    """One ticket, its times in Italian time."""
    state = "resolved" if t.resolved_at else "responded" if t.responded_at else "open"

    def local(moment: dt.datetime) -> str:
        return f"{moment.astimezone(ROME):%Y-%m-%d %H:%M %Z}"

    return (
        f"{t.id}\t{t.priority}\t{state}\topened {local(t.opened_at)}\t"
        f"respond by {local(t.response_due_at)}\t"
        f"resolve by {local(t.resolution_due_at)}\t{t.subject}"
    )


@ticket_group.command("open")
@click.argument("subject")
@click.option("--priority", default="medium", show_default=True)
@click.option("--ente", "ente_code", help="Fiscal code of the Ente concerned.")
@click.pass_context
def ticket_open(ctx: click.Context, subject: str, priority: str, ente_code: str | None) -> None:
    """Open a ticket now and print it with its due dates."""
    from sla_monitor import tickets

    settings, factory = _factory(ctx)
    policy = _policy(settings)
    try:
        with factory.begin() as session:
            ticket = tickets.open_ticket(
                session, policy, subject, priority, utcnow(), ente_code=ente_code
            )
            line = _line(ticket)
    except tickets.TicketError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(line)


def _stop_clock(ctx: click.Context, ticket_id: int, action: str) -> None:
    from sla_monitor import tickets

    _settings, factory = _factory(ctx)
    try:
        with factory.begin() as session:
            ticket = getattr(tickets, action)(session, ticket_id, utcnow())
            line = _line(ticket)
    except tickets.TicketError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(line)


@ticket_group.command("respond")
@click.argument("ticket_id", type=int)
@click.pass_context
def ticket_respond(ctx: click.Context, ticket_id: int) -> None:
    """Record the first response now."""
    _stop_clock(ctx, ticket_id, "respond")


@ticket_group.command("resolve")
@click.argument("ticket_id", type=int)
@click.pass_context
def ticket_resolve(ctx: click.Context, ticket_id: int) -> None:
    """Record the resolution now (and the response, if there was none)."""
    _stop_clock(ctx, ticket_id, "resolve")


@ticket_group.command("list")
@click.option("--open", "open_only", is_flag=True, help="Only tickets not resolved yet.")
@click.pass_context
def ticket_list(ctx: click.Context, open_only: bool) -> None:
    """Every ticket: id, priority, state, due dates, subject."""
    from sla_monitor import tickets

    _settings, factory = _factory(ctx)
    with factory() as session:
        for ticket in tickets.listing(session, open_only):
            click.echo(_line(ticket))


@click.command("probe")
@click.option(
    "--interval",
    type=float,
    help="Seconds between probes (default payhub.sla_probe_seconds, 60): one per slot.",
)
@click.option("--health-url", help="The /health URL (default payhub.sla_probe_health_url).")
@click.option(
    "--station-url",
    help="The station's paForNode URL (default payhub.sla_probe_url or soap_public_url).",
)
@click.option("--once", is_flag=True, help="Probe once and exit.")
@click.pass_context
def probe_command(
    ctx: click.Context,
    interval: float | None,
    health_url: str | None,
    station_url: str | None,
    once: bool,
) -> None:
    """Availability probe from outside the web processes: call /health and the station (the
    Stand-In probe request) every interval and record successes and failures (run it as its
    own service, on another host if you can)."""
    import dataclasses
    import signal
    import threading

    from sla_monitor import probes

    settings, factory = _factory(ctx)
    try:
        config = probes.ProbeConfig.from_settings(settings)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    config = dataclasses.replace(
        config,
        health_url=health_url or config.health_url,
        station_url=station_url or config.station_url,
    )
    if not (config.health_url or config.station_url):
        raise click.ClickException("nothing to probe: give --health-url or --station-url")
    seconds = interval or settings.sla_probe_seconds
    if seconds <= 0:
        raise click.BadParameter("must be more than 0", param_hint="--interval")
    if once:
        for p in probes.run_probes(factory, config):
            click.echo(f"{p.target}\t{'ok' if p.ok else 'FAILED'}\t{p.ms:.0f} ms\t{p.error or ''}")
        return
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    click.echo(f"probing every {seconds:g} s: {config.health_url or ''} {config.station_url or ''}")
    probes.run_forever(factory, config, seconds, stop=stop)


@sla_group.command("demo-data")
@click.pass_context
def demo_data(ctx: click.Context) -> None:
    """Fill a fresh demo database with SLA figures for the four months so far (probes with an
    outage, answer times, tickets, maintenance, anomalies): for demonstrations only."""
    from hub.calendar import BusinessCalendar
    from hub.sla import demo

    settings, factory = _factory(ctx)
    try:
        with factory.begin() as session:
            counts = demo.fill(
                session,
                BusinessCalendar.from_settings(settings),
                utcnow(),
                slot_seconds=settings.sla_probe_seconds or 60.0,
            )
    except demo.DemoDataError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(" ".join(f"{k}={v}" for k, v in counts.items()))
