"""Reconciliation downloads and support's receipt recovery.

- A reporting flow as XML (the Node's original for SOAP flows, FlussoRiversamento rebuilt and
  validated for FdR 3 flows) and as CSV, linked from the flow's page.
- The bank credits' filters (value dates, amount, matched or not, flow id) and their CSV.
- Support only: "recover this receipt" for (Ente, IUV, IUR), prefilled from the payment page,
  asks pagoPA's receipts service now (hub.reconciliation.recovery.recover_one, counted in the
  day's budget) and shows what came of it; audited as ``ops.receipt_recover``.

CSV files are written by the one CSV writer (hub.csvsafe), in the search export's dialect.
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Iterable, Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
import structlog
from pyramid.httpexceptions import HTTPNotFound
from pyramid.response import Response
from pyramid.view import view_config

from hub import clock, csvsafe, dashboard
from hub.config import from_registry
from hub.errors import NotFound
from hub.models import Ente
from hub.reconciliation import exports, flows, pagopa_rest, recovery
from web.checkout.i18n import _, localized
from web.ops.common import T, actor, audit_action, audit_export, form_date
from web.ops.security import ente_of, require_support

log = structlog.get_logger(__name__)
_IUV = re.compile(r"[A-Za-z0-9]{1,35}")
_IUR = re.compile(r"[A-Za-z0-9._-]{1,35}")
_EC = re.compile(r"[0-9]{11}")


def _csv(rows: Iterable[Iterable[Any]]) -> Iterator[bytes]:
    """Rows as the search export writes them: UTF-8 with a BOM, ``;``, CRLF, a chunk every
    500 rows."""
    out = io.StringIO()
    writer = csvsafe.writer(out, spreadsheet=True)
    yield codecs.BOM_UTF8
    for n, row in enumerate(rows, 1):
        writer.writerow(row)
        if n % 500 == 0:
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode()


def _attachment(body: Any, content_type: str, filename: str) -> Response:
    response = Response(content_type=content_type, charset="utf-8")
    if isinstance(body, bytes):
        response.body = body
    else:
        response.app_iter = body
    response.content_disposition = f'attachment; filename="{filename}"'
    return response


# --- a flow as XML and CSV -------------------------------------------------------------------


def _flow(request: Any) -> Any:
    ente = ente_of(request)
    try:
        return dashboard.find_flow(request.db, ente.id, int(request.matchdict["flow"]))
    except NotFound:
        raise HTTPNotFound() from None


def _flow_name(flow: Any) -> str:
    revision = f"-r{flow.revision}" if flow.revision is not None else ""
    return f"{flow.flow_id}{revision}"


@view_config(route_name="ops.flow_xml", request_method="GET")
def flow_xml(request: Any) -> Response:
    flow = _flow(request)
    try:
        body = exports.flow_xml(request.db, flow)
    except flows.InvalidFlow as exc:
        log.warning("ops.flow_xml_invalid", flow_pk=flow.id, reason=str(exc)[:200])
        raise HTTPNotFound() from None
    return _attachment(body, "application/xml", f"{_flow_name(flow)}.xml")


@view_config(route_name="ops.flow_csv", request_method="GET")
def flow_csv(request: Any) -> Response:
    flow = _flow(request)
    # read now, in the request's session (a flow is at most some hundred thousand rows)
    body = b"".join(_csv(exports.flow_csv_rows(request.db, flow)))
    return _attachment(body, "text/csv", f"{_flow_name(flow)}.csv")


# --- bank credits: filters and CSV -----------------------------------------------------------


def _amount_cents(value: str, errors: dict[str, Any], field: str) -> int | None:
    value = value.strip().replace(" ", "")
    if not value:
        return None
    if "," in value:
        value = value.replace(".", "").replace(",", ".")
    try:
        amount = Decimal(value)
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite() or abs(amount) > Decimal("999999999.99"):
        errors[field] = _("Write the amount as 123,45.")
        return None
    return int((amount * 100).to_integral_value())


def read_credit_filters(request: Any) -> tuple[exports.CreditFilters, dict[str, Any]]:
    params, errors = request.GET, {}
    matched = {"yes": True, "no": False}.get(params.get("matched", ""))
    filters = exports.CreditFilters(
        # spaces around the dates are forgiven here (not in the payments search)
        date_from=form_date(params.get("date_from", "").strip(), errors, "date_from"),
        date_to=form_date(params.get("date_to", "").strip(), errors, "date_to"),
        amount_min_cents=_amount_cents(params.get("amount_min", ""), errors, "amount_min"),
        amount_max_cents=_amount_cents(params.get("amount_max", ""), errors, "amount_max"),
        matched=matched,
        flow_id=params.get("flow_id", "").strip()[:35],
    )
    return filters, errors


def credit_page(request: Any, ente: Ente) -> dict[str, Any]:
    """The credits list's part of the page: filters, their errors, the rows (200 at most)."""
    filters, errors = read_credit_filters(request)
    rows = [] if errors else exports.bank_credits(request.db, ente.id, filters, limit=201)
    return {
        "credits": rows[:200],
        "truncated": len(rows) > 200,
        "filters": filters,
        "filter_params": {k: v for k, v in request.GET.items() if v},
        "errors": errors,
    }


@view_config(route_name="ops.credits_export", request_method="GET")
def credits_export(request: Any) -> Response:
    ente = ente_of(request)
    filters, errors = read_credit_filters(request)
    if errors:
        raise HTTPNotFound()
    # a credit's counterparty may be a person: recorded as the search export is
    audit_export(request, ente, exports.credits_query(ente.id, filters), view="credits_export")
    factory = request.registry["db.session_factory"]

    def rows() -> Iterator[tuple[Any, ...]]:
        # read in its own session: the response is sent after the request's transaction ended
        with factory() as session:
            yield from exports.credit_csv_rows(session, ente.id, filters)

    stamp = clock.today().isoformat()
    return _attachment(_csv(rows()), "text/csv", f"bank-credits-{ente.fiscal_code}-{stamp}.csv")


# --- support: recover one receipt ------------------------------------------------------------

OUTCOMES = {
    "recovered": ("ok", _("Receipt found at pagoPA's receipts service and stored.")),
    "already_here": ("ok", _("The receipt is already here: nothing to recover.")),
    "not_found": (
        "warning",
        _("pagoPA's receipts service has no such receipt (yet): it will be asked again."),
    ),
    "rate_limited": (
        "error",
        _("pagoPA's receipts service is unavailable (too many requests): try again later."),
    ),
    "unavailable": ("error", _("pagoPA's receipts service is unavailable: try again later.")),
    "no_budget": (
        "error",
        _("Today's budget of calls to pagoPA's receipts service is spent: try again tomorrow."),
    ),
}


def _form(values: Any) -> dict[str, str]:
    return {
        "ec": str(values.get("ec", "")).strip()[:11],
        "iuv": str(values.get("iuv", "")).strip()[:35],
        "iur": str(values.get("iur", "")).strip()[:35],
        "option": str(values.get("option", "")).strip()[:9],
    }


@view_config(
    route_name="ops.recover",
    renderer=T + "recover.jinja2",
    decorator=localized,
    require_csrf=True,
)
def recover(request: Any) -> dict[str, Any]:
    """GET: the form (prefilled from the query: ec, iuv, iur, option). POST: ask for the
    receipt, show the outcome."""
    require_support(request)
    form = _form(request.POST if request.method == "POST" else request.GET)
    page: dict[str, Any] = {"form": form, "outcome": None, "option_link": None}
    ente = None
    if _EC.fullmatch(form["ec"]):
        ente = request.db.scalar(sa.select(Ente).where(Ente.fiscal_code == form["ec"]))
    if ente is not None and form["option"].isdigit():
        try:
            option = dashboard.find_option(request.db, ente.id, int(form["option"]))
            page["option_link"] = request.route_path(
                "ops.option", ec=ente.fiscal_code, option=option.id
            )
        except NotFound:
            form["option"] = ""
    if request.method != "POST":
        return page
    errors = {}
    if ente is None:
        errors["ec"] = _("No body with this fiscal code.")
    if not _IUV.fullmatch(form["iuv"]):
        errors["iuv"] = _("Write the IUV: letters and digits, at most 35.")
    if not _IUR.fullmatch(form["iur"]):
        errors["iur"] = _("Write the IUR (the receipt's id), at most 35 characters.")
    if errors:
        request.response.status = 400
        page["errors"] = errors
        return page
    assert ente is not None
    settings = from_registry(request.registry)
    with request.db.begin_nested():
        result = recovery.recover_one(
            request.db,
            pagopa_rest.receipts_api(settings),
            ente,
            form["iuv"],
            form["iur"],
            operator=actor(request),
            budget=settings.recovery_daily_budget,
        )
    audit_action(
        request,
        "ops.receipt_recover",
        target=f"receipt:{form['iuv']}/{form['iur']}",
        ente_id=ente.id,
        detail={"status": result.status, "receipt_pk": result.receipt_pk},
    )
    level, message = OUTCOMES.get(result.status, ("error", _("Unexpected outcome.")))
    page["outcome"] = {
        "status": result.status,
        "level": level,
        "message": request.localizer.translate(message),
    }
    return page
