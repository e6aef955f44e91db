"""The six paForNode operations: schema-valid request element in, response bytes out.

Each handler reads the few fields it needs, calls hub/ and renders the answer; domain errors
propagate and soap.dispatch turns them into ``outcome=KO``.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from lxml import etree
from sqlalchemy.orm import Session

from hub import clock, payments
from hub.db import utcnow
from hub.errors import DuplicateReceipt, PaymentUnknown
from hub.models import PaymentOption
from hub.positions import fees  # SEND notification fees (issue 20)
from hub.positions.demand import DemandIn, demand_notice
from hub.positions.writer import InvalidPosition
from hub.tenants.stations import EnteInfo, StationInfo, load_ente
from hub.values.money import to_cents
from soap import envelope, responses
from soap.faults import Ko
from soap.receipts import ReceiptValueError, raw_text, receipt_from_xml

log = structlog.get_logger("soap.paForNode")


@dataclass
class Call:
    """One request, once the caller (broker, station, Ente idPA) is checked."""

    session: Session
    request: etree._Element
    station: StationInfo | None  # None only for a receipt through a retired station
    ente: EnteInfo  # idPA
    raw: bytes
    activation_ttl: dt.timedelta
    send_prices: Any = None  # SEND's price service, if configured (hub.positions.fees)


def _qr_target(call: Call) -> tuple[EnteInfo, str]:
    """The Ente and notice number of qrCode; the Ente may be another one served by the
    station (a multi-Ente station), else the notice is unknown here."""
    qr = call.request.find("qrCode")
    fiscal_code, notice = qr.findtext("fiscalCode"), qr.findtext("noticeNumber")
    ente = call.station.enti.get(fiscal_code) if call.station else None
    if ente is None:
        raise PaymentUnknown(f"no notice {notice} for Ente {fiscal_code} on this station")
    structlog.contextvars.bind_contextvars(notice_number=notice, ente=fiscal_code)
    return ente, notice


def _description(option: PaymentOption) -> str:
    return (option.description or option.position.description or "-")[:140]


def verify(call: Call) -> bytes:
    ente, notice = _qr_target(call)
    summary = payments.check_payable(
        payments.notice_summary(call.session, ente.id, notice), clock.today()
    )
    return responses.verify(summary, ente, summary.description, summary.all_postal)


def _get_payment(call: Call, *, v2: bool) -> bytes:
    ente, notice = _qr_target(call)
    amount = call.request.findtext("amount")
    transfer_type = call.request.findtext("transferType")
    primitive = "paGetPaymentV2" if v2 else "paGetPayment"
    # a fee SEND prices: its current price goes into the amount before it is answered
    if call.send_prices is not None:
        found = payments.lock_option(call.session, ente.id, notice)
        if found is not None:
            fees.refresh_from_send(call.session, call.send_prices, found, ente.fiscal_code)
    option = payments.activate(
        call.session,
        load_ente(call.session, ente.id),
        notice,
        requested_cents=to_cents(amount, allow_zero=True) if amount else 0,
        primitive=primitive,
        ttl=call.activation_ttl,
        transfer_type=transfer_type,
        cause=f"soap:{primitive}",
    )
    return responses.get_payment(
        option,
        ente,
        option.position,
        option.transfers,
        v2=v2,
        postal=transfer_type == "POSTAL",
        notification_fee_cents=fees.fees_of(call.session, [option.id]).get(option.id),
    )


def get_payment(call: Call) -> bytes:
    return _get_payment(call, v2=False)


def get_payment_v2(call: Call) -> bytes:
    return _get_payment(call, v2=True)


def _send_rt(call: Call, *, version: int, wrapper: str) -> bytes:
    element = call.request.find("receipt")
    try:
        receipt = receipt_from_xml(element, version=version, raw_xml=raw_text(call.raw))
    except ReceiptValueError as exc:  # never PAA_SYSTEM_ERROR: the Node would retry forever
        raise Ko("PAA_SINTASSI_EXTRAXSD", str(exc)) from None
    structlog.contextvars.bind_contextvars(
        notice_number=receipt.notice_number,
        ente=receipt.ec_fiscal_code,
        receipt_id=receipt.receipt_id,
    )
    receipt.test = bool(call.station and call.station.test)  # issue 15: test environment
    try:
        outcome = payments.store_receipt(
            call.session,
            receipt,
            now=utcnow(),
            served_ente_ids={e.id for e in call.station.enti.values()} if call.station else set(),
            broker_code=call.request.findtext("idBrokerPA"),
        )
    except DuplicateReceipt as exc:
        raise Ko("PAA_RECEIPT_DUPLICATA", str(exc)) from None
    if outcome.anomalies:
        log.warning(
            "soap.receipt_flagged", anomalies=outcome.anomalies, receipt_pk=outcome.receipt.id
        )
    return responses.ok(wrapper)


def send_rt(call: Call) -> bytes:
    return _send_rt(call, version=1, wrapper="paSendRTRes")


def send_rt_v2(call: Call) -> bytes:
    return _send_rt(call, version=2, wrapper="paSendRTV2Response")


def demand(call: Call) -> bytes:
    """Service data (base64 of a small XML document): ``amount``, ``debtorFiscalCode``,
    ``debtorName``, optional ``debtorType`` (F|G) and ``description``."""
    raw = call.request.findtext("datiSpecificiServizioRequest") or ""
    try:
        data = base64.b64decode(raw, validate=True)
    except ValueError as exc:
        raise Ko(
            "PAA_SINTASSI_EXTRAXSD", f"datiSpecificiServizioRequest is not base64: {exc}"
        ) from None
    try:  # the same rules as the envelope: UTF-8/16 only, no DTD, no external reference
        doc = envelope.parse_document(data, 16 * 1024)
    except envelope.Refused as exc:
        raise Ko(
            "PAA_SINTASSI_EXTRAXSD",
            f"datiSpecificiServizioRequest is not a plain XML document: {exc}",
        ) from None
    fields = {c.tag: (c.text or "").strip() for c in doc if isinstance(c.tag, str)}
    try:
        demand_in = DemandIn(
            amount=fields["amount"],
            debtor_fiscal_code=fields["debtorFiscalCode"],
            debtor_name=fields["debtorName"],
            debtor_type=fields.get("debtorType", "F"),
            description=fields.get("description"),
        )
    except KeyError as exc:
        raise Ko(
            "PAA_SINTASSI_EXTRAXSD", f"datiSpecificiServizioRequest lacks {exc.args[0]}"
        ) from None
    problem = demand_in.problem()
    if problem:
        raise Ko("PAA_SINTASSI_EXTRAXSD", f"datiSpecificiServizioRequest: {problem}")
    try:
        option = demand_notice(
            call.session,
            load_ente(call.session, call.ente.id),
            call.request.findtext("idServizio"),
            demand_in,
        )
    except InvalidPosition as exc:
        raise Ko("PAA_SINTASSI_EXTRAXSD", str(exc)) from None
    return responses.demand(option, call.ente, _description(option), option.transfers)


HANDLERS: dict[str, Callable[[Call], bytes]] = {
    "paVerifyPaymentNotice": verify,
    "paGetPayment": get_payment,
    "paGetPaymentV2": get_payment_v2,
    "paSendRT": send_rt,
    "paSendRTV2": send_rt_v2,
    "paDemandPaymentNotice": demand,
}
