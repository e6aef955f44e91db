"""The SLA contract in /ops (issue 19), for support staff: the four-month report (verdicts and
charts, as a page and as a PDF), the help desk's tickets (open, take over, wait for the
reporter, resolve, close, reopen; history and clocks), planned maintenance (plan, cancel;
notices to the referenti). Every change is audited."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pyramid.httpexceptions import HTTPBadRequest, HTTPNotFound, HTTPSeeOther
from pyramid.response import Response
from pyramid.view import view_config

from hub.calendar import BusinessCalendar
from hub.config import from_registry
from hub.db import ROME, utcnow
from hub.sla import contract_report, helpdesk, maintenance, periods
from web.checkout.i18n import _, localized
from web.ops.common import T, actor, audit_action, flash
from web.ops.security import require_support

MAX_TEXT = 4000


def _calendar(request: Any) -> BusinessCalendar:
    return BusinessCalendar.from_settings(from_registry(request.registry))


def _period(request: Any) -> tuple[str, dt.datetime, dt.datetime]:
    """?period=YYYY-Qn (default: the four months we are in); a bad one is a 400."""
    period = request.GET.get("period", periods.current(utcnow()))[:10]
    try:
        start, end = periods.period_bounds(period)
    except ValueError:
        raise HTTPBadRequest("period: YYYY-Q1, YYYY-Q2 or YYYY-Q3") from None
    return period.upper(), start, end


def _report(request: Any) -> tuple[str, contract_report.ContractReport]:
    settings = from_registry(request.registry)
    period, start, end = _period(request)
    built = contract_report.build(
        request.db,
        _calendar(request),
        start,
        end,
        utcnow(),
        slot_seconds=settings.sla_probe_seconds or 60.0,
        anomaly_days=settings.sla_anomaly_max_working_days,
    )
    return period, built


@view_config(route_name="ops.sla_report", renderer=T + "sla_report.jinja2", decorator=localized)
def report_page(request: Any) -> dict[str, Any]:
    require_support(request)
    period, built = _report(request)
    now = utcnow().astimezone(ROME)
    choices = [f"{y}-Q{n}" for y in (now.year - 1, now.year) for n in (1, 2, 3)]
    return {
        "period": period,
        "periods": choices,
        "report": built,
        "charts": {k: contract_report.svg_data_uri(d) for k, d in built.charts.items()},
        "labels": contract_report.BUCKET_LABELS,
        "rome": ROME,
    }


@view_config(route_name="ops.sla_report_pdf", decorator=localized)
def report_pdf(request: Any) -> Response:
    require_support(request)
    period, built = _report(request)
    audit_action(request, "ops.sla_report_pdf", target=f"sla:{period}", ente_id=None)
    return Response(
        body=contract_report.pdf(built),
        content_type="application/pdf",
        content_disposition=f'attachment; filename="sla-{period}.pdf"',
    )


# -- tickets ----------------------------------------------------------------------------------
@view_config(
    route_name="ops.sla_tickets",
    renderer=T + "sla_tickets.jinja2",
    decorator=localized,
    require_csrf=True,
)
def tickets(request: Any) -> Any:
    require_support(request)
    errors: dict[str, Any] = {}
    form = {k: request.POST.get(k, "")[:MAX_TEXT] for k in request.POST} if request.POST else {}
    if request.method == "POST":
        data = helpdesk.TicketInput(
            subject=form.get("subject", ""),
            description=form.get("description", ""),
            severity=form.get("severity", ""),
            severity_reason=form.get("severity_reason", ""),
            reporter_kind=form.get("reporter_kind", ""),
            reporter_name=form.get("reporter_name", ""),
            reporter_email=form.get("reporter_email", "") or None,
            ente_code=form.get("ente_code", "").strip()[:35] or None,
        )
        try:
            ticket = helpdesk.open_ticket(
                request.db, _calendar(request), data, utcnow(), actor(request)
            )
        except helpdesk.HelpdeskError as exc:
            errors["form"] = str(exc)
            request.response.status = 400
        else:
            audit_action(request, "ops.sla_ticket_open", target=f"ticket:{ticket.id}", ente_id=None)
            flash(request, _("Ticket opened."))
            return HTTPSeeOther(location=request.route_path("ops.sla_ticket", ticket=ticket.id))
    now = utcnow()
    calendar = _calendar(request)
    rows = [
        (
            t,
            round(helpdesk.take_over_minutes(t, calendar, now)),
            round(helpdesk.fix_minutes(t, calendar, now)),
        )
        for t in helpdesk.listing(request.db)[:300]
    ]
    return {
        "rows": rows,
        "errors": errors,
        "form": form,
        "severities": helpdesk.SEVERITIES,
        "reporters": helpdesk.REPORTERS,
        "rome": ROME,
    }


@view_config(
    route_name="ops.sla_ticket",
    renderer=T + "sla_ticket.jinja2",
    decorator=localized,
    require_csrf=True,
)
def ticket(request: Any) -> Any:
    require_support(request)
    ticket_id = int(request.matchdict["ticket"])
    try:
        row = helpdesk.get(request.db, ticket_id)
    except helpdesk.HelpdeskError:
        raise HTTPNotFound() from None
    if request.method == "POST":
        event = request.POST.get("event", "")[:32]
        try:
            helpdesk.fire(
                request.db,
                _calendar(request),
                ticket_id,
                event,
                utcnow(),
                actor(request),
                note=request.POST.get("note", "")[:MAX_TEXT],
                owner=request.POST.get("owner", "").strip()[:100] or None,
            )
        except helpdesk.HelpdeskError:
            flash(request, _("That change is not possible in the ticket's state."), "error")
        else:
            audit_action(
                request,
                "ops.sla_ticket_event",
                target=f"ticket:{ticket_id}",
                ente_id=None,
                detail={"event": event},
            )
            flash(request, _("Ticket updated."))
        return HTTPSeeOther(location=request.route_path("ops.sla_ticket", ticket=ticket_id))
    now = utcnow()
    calendar = _calendar(request)
    return {
        "t": row,
        "history": helpdesk.history(request.db, ticket_id),
        "events": helpdesk.events_allowed(row),
        "take_over": round(helpdesk.take_over_minutes(row, calendar, now)),
        "fix": round(helpdesk.fix_minutes(row, calendar, now)),
        "fix_target": helpdesk.FIX_MINUTES.get(row.severity or "non_blocking"),
        "rome": ROME,
    }


# -- maintenance ------------------------------------------------------------------------------
def _local(value: str) -> dt.datetime:
    """A datetime-local field (Italian time) as an aware instant; ValueError when bad."""
    moment = dt.datetime.fromisoformat(value.strip())
    if moment.tzinfo is not None:
        raise ValueError("no zone expected")
    return moment.replace(tzinfo=ROME).astimezone(dt.UTC)


@view_config(
    route_name="ops.sla_maintenance",
    renderer=T + "sla_maintenance.jinja2",
    decorator=localized,
    require_csrf=True,
)
def maintenance_page(request: Any) -> Any:
    require_support(request)
    errors: dict[str, Any] = {}
    form = {k: request.POST.get(k, "")[:MAX_TEXT] for k in request.POST} if request.POST else {}
    now = utcnow()
    if request.method == "POST":
        try:
            starts, ends = _local(form.get("starts_at", "")), _local(form.get("ends_at", ""))
        except ValueError:
            errors["form"] = _("Give the start and the expected end as date and time.")
        else:
            try:
                window = maintenance.plan(
                    request.db,
                    starts_at=starts,
                    ends_at=ends,
                    affects=form.get("affects", ""),
                    ente_codes=form.get("enti", "").replace(",", " ").split(),
                    actor=actor(request),
                    now=now,
                )
            except maintenance.MaintenanceError as exc:
                errors["form"] = str(exc)
            else:
                audit_action(
                    request,
                    "ops.sla_maintenance_plan",
                    target=f"maintenance:{window.id}",
                    ente_id=None,
                )
                flash(request, _("Maintenance planned: the referenti will be notified."))
                return HTTPSeeOther(location=request.route_path("ops.sla_maintenance"))
        request.response.status = 400
    return {
        "lines": maintenance.windows(request.db, now - dt.timedelta(days=120), now, upcoming=True),
        "errors": errors,
        "form": form,
        "rome": ROME,
        "lead_days": maintenance.LEAD.days,
    }


@view_config(
    route_name="ops.sla_maintenance_cancel",
    request_method="POST",
    require_csrf=True,
    decorator=localized,
)
def maintenance_cancel(request: Any) -> Any:
    require_support(request)
    window_id = int(request.matchdict["window"])
    try:
        maintenance.cancel(request.db, window_id, utcnow())
    except maintenance.MaintenanceError:
        raise HTTPNotFound() from None
    audit_action(
        request, "ops.sla_maintenance_cancel", target=f"maintenance:{window_id}", ente_id=None
    )
    flash(request, _("Maintenance cancelled."))
    return HTTPSeeOther(location=request.route_path("ops.sla_maintenance"))
