"""Login, logout, and the operators' pages: the Ente's dashboard, the search with its CSV
export, and one payment option's whole story."""

from __future__ import annotations

import codecs
import datetime as dt
import io
from collections.abc import Iterator
from typing import Any

from pyramid.csrf import new_csrf_token
from pyramid.httpexceptions import HTTPNotFound, HTTPSeeOther
from pyramid.response import Response
from pyramid.security import forget, remember
from pyramid.view import view_config

from hub import clock, csvsafe, dashboard
from hub.db import ROME, utcnow
from hub.errors import NotFound
from hub.models import Ente
from hub.tenants import operators
from hub.tenants.stations import standin_status
from web.checkout.i18n import _, localized
from web.clientaddr import address_of, limiter
from web.ops.common import T, audit_export, audit_personal_data, form_date
from web.ops.security import account_of, end_tickets, ente_of, visible_enti
from workflows.payment import OptionStatus

SEARCH_STATES = tuple(OptionStatus)  # every state, the initial one included
PAGE_ROWS = 200


# --- login -----------------------------------------------------------------------------------


@view_config(
    route_name="ops.login", renderer=T + "login.jinja2", decorator=localized, require_csrf=True
)
def login(request: Any) -> Any:
    if request.method != "POST":
        return {"errors": {}, "username": ""}
    # control characters are in no account name (and PostgreSQL refuses NUL): wrong, at once
    username = "".join(c for c in request.POST.get("username", "") if c >= " ")[:64].strip()
    result = operators.authenticate(
        request.db,
        username,
        request.POST.get("password", "").replace("\x00", ""),
        address=address_of(request),
        limiter=limiter(request),
        request_id=getattr(request, "request_id", None),
    )
    if result.problem == "throttled":
        request.response.status = 429
        return {
            "username": username,
            "errors": {
                "form": _(
                    "Too many failed attempts for this account: wait 15 minutes and try again."
                )
            },
        }
    if result.account is None:
        return {
            "username": username,
            "errors": {"form": _("Wrong username or password, or the account is disabled.")},
        }
    new_csrf_token(request)  # a token issued before login is not reused after it
    headers = remember(request, result.account.id)
    return HTTPSeeOther(location=request.route_path("ops.home"), headers=headers)


@view_config(route_name="ops.logout", request_method="POST", require_csrf=True)
def logout(request: Any) -> HTTPSeeOther:
    end_tickets(request)  # server-side: a copy of the cookie stops working too
    new_csrf_token(request)
    return HTTPSeeOther(location=request.route_path("ops.login"), headers=forget(request))


# --- home and dashboard ----------------------------------------------------------------------


@view_config(route_name="ops.home", renderer=T + "home.jinja2", decorator=localized)
def home(request: Any) -> Any:
    account = account_of(request)
    enti = visible_enti(request)
    if len(enti) == 1 and not account.is_support:
        return HTTPSeeOther(location=request.route_path("ops.ente", ec=enti[0].fiscal_code))
    return {"enti": enti}


@view_config(route_name="ops.ente", renderer=T + "ente.jinja2", decorator=localized)
def ente_dashboard(request: Any) -> dict[str, Any]:
    ente = ente_of(request)
    today, month = dashboard.period_starts()
    return {
        "ente": ente,
        "states": dashboard.STATES,
        "refresh": 10,
        "today": dashboard.counts_by_state(request.db, ente.id, today),
        "month": dashboard.counts_by_state(request.db, ente.id, month),
        "transitions": dashboard.latest_transitions(request.db, ente.id),
        "standin": standin_status(request.db, ente.id, today=today, month=month, now=utcnow()),
        "rome": ROME,
    }


# --- search ----------------------------------------------------------------------------------


def read_filters(request: Any) -> tuple[dashboard.Filters, dict[str, Any]]:
    """The search filters; the debtor's fiscal code is read from a POST body only, so that it
    never appears in a URL (nor in the access log)."""
    params, errors = request.params, {}
    state = params.get("state", "")
    if state and state not in SEARCH_STATES:
        errors["state"] = _("Choose a state from the list.")
        state = ""
    filters = dashboard.Filters(
        notice_number=params.get("notice_number", "").replace(" ", "").strip(),
        iuv=params.get("iuv", "").strip(),
        iupd=params.get("iupd", "").strip(),
        debtor_fiscal_code=request.POST.get("debtor_fiscal_code", "").strip().upper(),
        state=state,
        date_from=form_date(params.get("date_from", ""), errors, "date_from"),
        date_to=form_date(params.get("date_to", ""), errors, "date_to"),
    )
    return filters, errors


@view_config(
    route_name="ops.search", renderer=T + "search.jinja2", decorator=localized, require_csrf=True
)
def search(request: Any) -> dict[str, Any]:
    ente = ente_of(request)
    filters, errors = read_filters(request)
    rows = None
    after = _after(request.params.get("after", ""))
    if not errors and (request.method == "POST" or not filters.empty):
        rows = dashboard.search(request.db, ente.id, filters, limit=PAGE_ROWS + 1, after=after)
        if rows:
            audit_personal_data(request, ente, view="search", rows=min(len(rows), PAGE_ROWS))
    return {
        "ente": ente,
        "filters": filters,
        "errors": errors,
        "states": SEARCH_STATES,
        "rows": rows and rows[:PAGE_ROWS],
        "truncated": bool(rows) and len(rows) > PAGE_ROWS,
        # keyset paging: the next page is the options below the last id shown
        "next_after": rows[PAGE_ROWS - 1][0].id if rows and len(rows) > PAGE_ROWS else None,
        "after": after,
    }


def _after(value: str) -> int | None:
    """The ``after`` of a next-page request (an option id); anything else: the first page."""
    return int(value) if value.isdigit() and len(value) <= 18 else None


CSV_HEADER = (
    "ente",
    "iupd",
    "notice_number",
    "iuv",
    "debtor_fiscal_code",
    "debtor_name",
    "description",
    "amount",
    "due_date",
    "status",
    "paid_amount",
    "paid_at",
    "created_at",
)


def _amount(cents: int | None) -> str:
    """Two decimals with a decimal comma, as Italian spreadsheets read them."""
    if cents is None:
        return ""
    return f"{'-' if cents < 0 else ''}{abs(cents) // 100},{abs(cents) % 100:02d}"


def _when(value: dt.datetime | None) -> str:
    """A time in Italian time with its offset (2026-12-07T14:05:09+01:00): what a spreadsheet
    user reads as the local hour, and still one instant for a program."""
    return clock.local(value).isoformat(timespec="seconds") if value else ""


def csv_chunks(factory: Any, ente: Ente, filters: dashboard.Filters) -> Iterator[bytes]:
    """The export, a row per chunk, every matching row (dashboard.stream_search: keyset
    batches, memory flat), read in its own session: the response is sent after the request's
    transaction has ended."""
    out = io.StringIO()
    writer = csvsafe.writer(out, spreadsheet=True)
    writer.writerow(CSV_HEADER)
    yield codecs.BOM_UTF8 + out.getvalue().encode()
    with factory() as session:
        for row in dashboard.stream_search(session, ente.id, filters):
            out.seek(0)
            out.truncate()
            writer.writerow(
                (
                    ente.fiscal_code,
                    row.iupd,
                    row.notice_number,
                    row.iuv,
                    row.debtor_fiscal_code,
                    row.debtor_name,
                    row.description,
                    _amount(row.amount_cents),
                    row.due_date.isoformat(),
                    row.status,
                    _amount(row.paid_cents),
                    _when(row.paid_at),
                    _when(row.created_at),
                )
            )
            yield out.getvalue().encode()


@view_config(route_name="ops.export", request_method="POST", require_csrf=True, decorator=localized)
def export(request: Any) -> Response:
    ente = ente_of(request)
    filters, errors = read_filters(request)
    if errors:
        raise HTTPNotFound()
    audit_export(request, ente, dashboard.search_query(ente.id, filters), view="export")
    factory = request.registry["db.session_factory"]
    stamp = clock.today().isoformat()
    return Response(
        app_iter=csv_chunks(factory, ente, filters),
        content_type="text/csv",
        charset="utf-8",
        content_disposition=f'attachment; filename="payments-{ente.fiscal_code}-{stamp}.csv"',
    )


# --- one payment option ----------------------------------------------------------------------


@view_config(route_name="ops.option", renderer=T + "option.jinja2", decorator=localized)
def option_detail(request: Any) -> dict[str, Any]:
    ente = ente_of(request)
    try:
        option = dashboard.find_option(request.db, ente.id, int(request.matchdict["option"]))
    except NotFound:
        raise HTTPNotFound() from None
    audit_personal_data(request, ente, view="payment", target=f"payment_option:{option.id}")
    return {
        "ente": ente,
        "option": option,
        "position": option.position,
        **dashboard.option_story(request.db, option),
    }
