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
from web.ops import anomaly_text
from web.ops.common import T, actor, audit_action, flash
from web.ops.security import require_support

MAX_TEXT = 4000


def _posted(request: Any) -> dict[str, str]:
    """The form's fields as posted, each cut to MAX_TEXT characters (none on a GET)."""
    return {k: request.POST.get(k, "")[:MAX_TEXT] for k in request.POST} if request.POST else {}


def _calendar(request: Any) -> BusinessCalendar:
    return BusinessCalendar.from_settings(from_registry(request.registry))


MAX_RANGE_DAYS = 366  # a year (a leap one too) and no more: the report reads every minute


class RangeError(ValueError):
    """A report range the page cannot show; the message says why, for the operator."""


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip()[:10])
    except ValueError:
        raise RangeError(_("Write a date as YYYY-MM-DD (for example 2026-03-31).")) from None


def report_range(
    params: Any, today: dt.date
) -> tuple[str, dt.datetime, dt.datetime, dict[str, str]]:
    """The report's (name, start, end) from ``?from=&to=`` (days of Italian time, both
    included) or ``?period=YYYY-Qn`` (default: the four months ``today`` is in), with the
    values to show back in the form. RangeError says what is wrong with a range."""
    first, last = params.get("from", "").strip(), params.get("to", "").strip()
    shown = {"from": first[:10], "to": last[:10]}
    if first or last:
        if not (first and last):
            raise RangeError(_("Give both days: the first and the last of the report."))
        start, end = _date(first), _date(last)
        if start > end:
            raise RangeError(_("The first day comes after the last one."))
        if start > today:
            raise RangeError(_("The report cannot start after today."))
        if (end - start).days + 1 > MAX_RANGE_DAYS:
            raise RangeError(_("A report covers at most 366 days."))
        return (
            f"{start.isoformat()}_{end.isoformat()}",
            periods.day_start(start),
            periods.day_start(end + dt.timedelta(days=1)),
            shown,
        )
    period = params.get("period", periods.current(utcnow()))[:10]
    try:
        start_at, end_at = periods.period_bounds(period)
    except ValueError:
        raise RangeError(_("Choose a four-month period such as 2026-Q1.")) from None
    return period.upper(), start_at, end_at, shown


def _build(request: Any, start: dt.datetime, end: dt.datetime) -> contract_report.ContractReport:
    settings = from_registry(request.registry)
    return contract_report.build(
        request.db,
        _calendar(request),
        start,
        end,
        utcnow(),
        slot_seconds=settings.sla_probe_seconds or 60.0,
        anomaly_days=settings.sla_anomaly_max_working_days,
        _=anomaly_text.translator(request),  # the charts' texts in the page's language
    )


@view_config(route_name="ops.sla_report", renderer=T + "sla_report.jinja2", decorator=localized)
def report_page(request: Any) -> dict[str, Any]:
    """The report of a four-month period, or of any range of days; a bad range shows the
    current period's report with the reason, answered 400."""
    require_support(request)
    now = utcnow().astimezone(ROME)
    error = None
    try:
        name, start, end, shown = report_range(request.GET, now.date())
    except RangeError as exc:
        error = exc.args[0]
        request.response.status = 400
        name, start, end, shown = report_range({}, now.date())
        shown = {k: request.GET.get(k, "")[:10] for k in ("from", "to")}
    built = _build(request, start, end)
    choices = [f"{y}-Q{n}" for y in (now.year - 1, now.year) for n in (1, 2, 3)]
    ranged = "_" in name
    return {
        "period": "" if ranged else name,
        "periods": choices,
        "dates": shown,
        "range_error": error,
        "pdf_query": shown if ranged else {"period": name},
        "report": built,
        "charts": {k: contract_report.svg_data_uri(d) for k, d in built.charts.items()},
        "labels": contract_report.BUCKET_LABELS,
        "severities": contract_report.SEVERITIES,
        "rome": ROME,
    }


@view_config(route_name="ops.sla_report_pdf", decorator=localized)
def report_pdf(request: Any) -> Response:
    """The same report as a PDF; a bad range is a 400 saying why."""
    require_support(request)
    try:
        name, start, end, _shown = report_range(request.GET, utcnow().astimezone(ROME).date())
    except RangeError as exc:
        raise HTTPBadRequest(request.localizer.translate(exc.args[0])) from None
    built = _build(request, start, end)
    audit_action(request, "ops.sla_report_pdf", target=f"sla:{name}", ente_id=None)
    return Response(
        body=contract_report.pdf(
            built,
            _=anomaly_text.translator(request),
            kinds={k: anomaly_text.kind(request, k) for k in built.anomalies.by_kind},
        ),
        content_type="application/pdf",
        content_disposition=f'attachment; filename="sla-{name}.pdf"',
    )


@view_config(
    route_name="ops.sla_tickets",
    renderer=T + "sla_tickets.jinja2",
    decorator=localized,
    require_csrf=True,
)
def tickets(request: Any) -> Any:
    require_support(request)
    errors: dict[str, Any] = {}
    form = _posted(request)
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
    form = _posted(request)
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
