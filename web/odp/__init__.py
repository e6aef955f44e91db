"""Payment options ("paVerifyPaymentOptions"): pagoPA's ``orgs_payment_options.json``, the
service an Ente (here, its intermediary) implements so that the citizen's app shows every way
to pay a notice: in full, or the instalment plan, each with its status.

``POST /odp/v1/payment-options/organizations/{fiscal code}/notices/{notice number}`` (the
Ente's base URL registered with pagoPA is ``https://<payhub>/odp/v1``); the caller presents
``Ocp-Apim-Subscription-Key`` (the document's only security scheme) holding a payhub API key
that covers the Ente. Answers come from the archive: the options of the position holding the
notice. Errors are the document's ``ErrorResponse`` with its ODP codes:

====== ====== ==========================================================================
ODP-101 400   PAA_SINTASSI: the notice number is not digits (at most 18)
ODP-104 400   PAA_ID_DOMINIO_ERRATO: an Ente the key does not cover (or unknown here)
ODP-107 404   PAA_PAGAMENTO_SCONOSCIUTO: no such notice, or not published
ODP-108 409   PAA_PAGAMENTO_DUPLICATO: this notice is paid
ODP-110 422   PAA_PAGAMENTO_SCADUTO: expired
ODP-111 422   PAA_PAGAMENTO_ANNULLATO: cancelled
ODP-103 500   PAA_SYSTEM_ERROR
====== ====== ==========================================================================

A missing or unknown key is 401 (the document names the key, not the answer).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
import structlog
from pyramid.response import Response

from hub import clock, payments
from hub.errors import PaymentAlreadyPaid, PaymentCancelled, PaymentExpired, PaymentUnknown
from hub.models import DebtPosition, Ente, GpdPosition, PaymentOption
from hub.tenants import api_keys
from workflows.payment import CLOSED_STATES, PAID_STATES
from workflows.payment import OptionStatus as O

log = structlog.get_logger(__name__)
PREFIX = "/odp/v1"
ROUTE = "odp.payment_options"
OPERATION = "paymentOptions"  # its name in the SLA monitor's outcome counts
PATTERN = "/payment-options/organizations/{fiscal_code}/notices/{notice_number}"
KEY_HEADER = "Ocp-Apim-Subscription-Key"
SINGLE = "Pagamento in un'unica soluzione"

_ERRORS: dict[str, tuple[int, str, str, str]] = {
    # code: (HTTP status, HTTP description, pagoPA fault, message)
    "ODP-101": (400, "Bad Request", "PAA_SINTASSI", "Errore di sintassi nella richiesta"),
    "ODP-103": (500, "Internal Server Error", "PAA_SYSTEM_ERROR", "Errore di sistema"),
    "ODP-104": (400, "Bad Request", "PAA_ID_DOMINIO_ERRATO", "Ente creditore sconosciuto"),
    "ODP-107": (404, "Not Found", "PAA_PAGAMENTO_SCONOSCIUTO", "Pagamento sconosciuto"),
    "ODP-108": (409, "Conflict", "PAA_PAGAMENTO_DUPLICATO", "Pagamento duplicato"),
    "ODP-110": (422, "Unprocessable Entity", "PAA_PAGAMENTO_SCADUTO", "Pagamento scaduto"),
    "ODP-111": (422, "Unprocessable Entity", "PAA_PAGAMENTO_ANNULLATO", "Pagamento annullato"),
}


class OdpError(Exception):
    def __init__(self, code: str, detail: str | None = None) -> None:
        super().__init__(code)
        self.code, self.detail = code, detail


def _json(body: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False),
        status=status,
        content_type="application/json",
        charset="utf-8",
    )


def error_body(status: int, description: str, message: str, code: str | None) -> dict[str, Any]:
    now = clock.now()
    body: dict[str, Any] = {
        "httpStatusCode": status,
        "httpStatusDescription": description,
        "errorMessage": message,
        "timestamp": int(now.timestamp()),
        "dateTime": clock.local(now).replace(tzinfo=None).isoformat(),
    }
    if code:
        body["appErrorCode"] = code
    return body


def _count(request: Any, outcome: str) -> None:
    """The answer's outcome for pagoPA's KPI B.6 (sla_monitor.recorder; a counter, no I/O)."""
    recorder = request.registry.get("sla.recorder")
    if recorder and request.matchdict:
        recorder.count(OPERATION, outcome, ente=request.matchdict.get("fiscal_code", ""))


def error_view(exc: OdpError, request: Any) -> Response:
    _count(request, exc.code)
    if exc.code == "401":
        body = error_body(401, "Unauthorized", f"a valid {KEY_HEADER} is required", None)
        return _json(body, 401)
    status, description, fault, message = _ERRORS[exc.code]
    return _json(
        error_body(status, description, f"{fault} {exc.detail or message}", exc.code), status
    )


def system_error_view(exc: Exception, request: Any) -> Response:
    log.exception("odp.unexpected_error")
    return error_view(OdpError("ODP-103"), request)


def _ente(request: Any) -> Ente:
    secret = request.headers.get(KEY_HEADER, "").strip()
    key = api_keys.authenticate(request.db, secret) if secret else None
    if key is None:
        raise OdpError("401")
    code = request.matchdict["fiscal_code"]
    ente = next((e for e in key.enti if e.fiscal_code == code), None)
    if ente is None:
        raise OdpError("ODP-104", f"Ente {code[:35]} non servito")
    return ente


def _end_of(day: dt.date | None) -> str | None:
    if day is None:
        return None
    return dt.datetime.combine(day, dt.time(23, 59, 59), clock.ROME).isoformat()


def _installment_status(option: PaymentOption, today: dt.date) -> tuple[str, str]:
    if option.status in PAID_STATES:
        return "POI_PAID", "pagato"
    if option.status == O.EXPIRED or (option.expires_on and option.expires_on < today):
        return "POI_EXPIRED_NOT_PAYABLE", "scaduto, non più pagabile"
    if option.status in CLOSED_STATES or option.status == O.DRAFT:
        return "POI_INVALID", "annullato"
    if option.due_date < today:
        return "POI_EXPIRED_UNPAID", "scaduto, ancora pagabile"
    return "POI_UNPAID", "non pagato"


def _group_status(statuses: list[str]) -> tuple[str, str]:
    paid = statuses.count("POI_PAID")
    if paid == len(statuses):
        return "PO_PAID", "pagato"
    if paid:
        return "PO_PARTIALLY_PAID", f"{paid} rate su {len(statuses)} pagate"
    for poi, po, reason in (
        ("POI_INVALID", "PO_INVALID", "annullato"),
        ("POI_EXPIRED_NOT_PAYABLE", "PO_EXPIRED_NOT_PAYABLE", "scaduto, non più pagabile"),
        ("POI_EXPIRED_UNPAID", "PO_EXPIRED_UNPAID", "scaduto, ancora pagabile"),
    ):
        if all(s == poi for s in statuses) or (poi == "POI_EXPIRED_UNPAID" and poi in statuses):
            return po, reason
    return "PO_UNPAID", "non pagato"


def payment_options(
    request: Any, ente: Ente, position: DebtPosition, gpd: GpdPosition | None
) -> dict[str, Any]:
    """The document's ``PaymentOptionsResponse`` for the position: each pay-in-full option
    a group of one, the instalment plan one group; groups by ascending due date."""
    today = clock.today()
    live = [o for o in position.options if o.status != O.DRAFT]
    if any(o.status not in CLOSED_STATES for o in live):  # options replaced away are left out
        live = [o for o in live if o.status not in (O.CANCELLED,)]
    groups: dict[Any, list[PaymentOption]] = defaultdict(list)
    for option in sorted(live, key=lambda o: (o.instalment_number or 0, o.id)):
        groups["plan" if option.instalment_count else option.id].append(option)
    valid_from = (gpd.validity_date if gpd and gpd.validity_date else None) or position.published_at
    out = []
    for members in groups.values():
        installments = []
        for o in members:
            status, reason = _installment_status(o, today)
            item = {
                "nav": o.notice_number,
                "iuv": o.iuv,
                "amount": o.amount_cents,
                "description": (o.description or position.description)[:140],
                "dueDate": _end_of(o.due_date),
                "status": status,
                "statusReason": reason,
            }
            if valid_from:
                item["validFrom"] = clock.local(valid_from).isoformat()
            installments.append(item)
        count = len(members)
        status, reason = _group_status([i["status"] for i in installments])
        group: dict[str, Any] = {
            "description": SINGLE if count == 1 else f"Piano rateale in {count} rate",
            "numberOfInstallments": count,
            "dueDate": installments[0]["dueDate"],
            "amount": sum(o.amount_cents for o in members),
            "status": status,
            "statusReason": reason,
            "allCCP": all(t.postal_iban for o in members for t in o.transfers),
            "installments": installments,
        }
        if valid_from:
            group["validFrom"] = clock.local(valid_from).isoformat()
        out.append(group)
    out.sort(key=lambda g: (g["dueDate"], g["numberOfInstallments"]))
    body: dict[str, Any] = {
        "organizationFiscalCode": ente.fiscal_code,
        "companyName": gpd.company_name if gpd else ente.name,
        "standin": False,
        "paymentOptions": out,
    }
    office = (gpd.office_name if gpd else None) or ente.office
    if office:
        body["officeName"] = office
    return body


def verify_payment_options(request: Any) -> Response:
    """getPaymentOptionsByNoticeNumber."""
    ente = _ente(request)
    notice = request.matchdict["notice_number"]
    if not (notice.isascii() and notice.isdigit() and len(notice) <= 18):
        raise OdpError("ODP-101", "numero avviso non valido")
    option = request.db.scalar(
        sa.select(PaymentOption).where(
            PaymentOption.ente_id == ente.id, PaymentOption.notice_number == notice
        )
    )
    try:
        payments.check_payable(option, clock.today())
    except PaymentUnknown:
        raise OdpError("ODP-107") from None
    except PaymentAlreadyPaid:
        raise OdpError("ODP-108") from None
    except PaymentCancelled:
        raise OdpError("ODP-111") from None
    except PaymentExpired:
        raise OdpError("ODP-110") from None
    assert option is not None
    gpd = request.db.get(GpdPosition, option.position_id)
    log.info("odp.payment_options", ente=ente.fiscal_code, notice_number=notice)
    body = payment_options(request, ente, option.position, gpd)
    _count(request, "OK")
    return _json(body)


def includeme(config: Any) -> None:
    """Include with ``route_prefix`` (web/__init__.py mounts it at PREFIX)."""
    config.add_route(ROUTE, PATTERN)
    config.add_view(verify_payment_options, route_name=ROUTE, request_method="POST")
    config.add_exception_view(error_view, context=OdpError)
    prefix = (config.route_prefix and f"/{config.route_prefix.strip('/')}") or PREFIX
    config.add_exception_view(system_error_view, context=Exception, path_info=f"^{prefix}/")
