"""Building paForNode responses with lxml, in the official element order.

Only the wrapper element is namespaced; children are unqualified. Amounts are written with
exactly two decimals. Optional fields whose stored value would break the XSD (an e-mail the
pattern refuses, a name longer than the field) are trimmed or left out, never sent invalid.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

from lxml import etree

from hub.values.money import format_cents
from soap.envelope import SOAP11
from soap.faults import Ko
from soap.models import PAFN

_NSMAP = {"soapenv": SOAP11, "pafn": PAFN}
_EMAIL = re.compile(r"^[a-zA-Z0-9_.+\-]+@[a-zA-Z0-9\-]+(\.[a-zA-Z0-9\-]+)*$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
CONTENT_TYPE = "text/xml; charset=utf-8"


def _sub(parent: etree._Element, tag: str, text: Any = None) -> etree._Element:
    elt = etree.SubElement(parent, tag)
    if text is not None:
        elt.text = text if isinstance(text, str) else str(text)
    return elt


def _opt(parent: etree._Element, tag: str, text: str | None, max_len: int | None = None) -> None:
    if text:
        _sub(parent, tag, text[:max_len] if max_len else text)


def _text(value: str | None, max_len: int, fallback: str = "-") -> str:
    value = (value or "").strip()
    return value[:max_len] if value else fallback


def envelope(wrapper: str) -> tuple[etree._Element, etree._Element]:
    """A new Envelope and the (namespaced) response wrapper inside its Body."""
    env = etree.Element(f"{{{SOAP11}}}Envelope", nsmap=_NSMAP)
    body = etree.SubElement(env, f"{{{SOAP11}}}Body")
    return env, etree.SubElement(body, f"{{{PAFN}}}{wrapper}")


def serialize(env: etree._Element) -> bytes:
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


def ko(wrapper: str, error: Ko, domain_id: str) -> bytes:
    env, res = envelope(wrapper)
    _sub(res, "outcome", "KO")
    fault = _sub(res, "fault")
    _sub(fault, "faultCode", error.fault_code)
    _sub(fault, "faultString", error.fault_string)
    _sub(fault, "id", domain_id)
    _sub(fault, "description", error.description[:1000])
    return serialize(env)


def ok(wrapper: str) -> bytes:
    env, res = envelope(wrapper)
    _sub(res, "outcome", "OK")
    return serialize(env)


def soap_fault(faultcode: str, faultstring: str) -> bytes:
    """A SOAP 1.1 Fault, for requests we could not read as a paForNode operation."""
    env = etree.Element(f"{{{SOAP11}}}Envelope", nsmap={"soapenv": SOAP11})
    fault = etree.SubElement(etree.SubElement(env, f"{{{SOAP11}}}Body"), f"{{{SOAP11}}}Fault")
    _sub(fault, "faultcode", f"soapenv:{faultcode}")
    _sub(fault, "faultstring", faultstring)
    return serialize(env)


def payment_list(parent: etree._Element, option, description: str, all_postal: bool) -> None:
    pod = _sub(_sub(parent, "paymentList"), "paymentOptionDescription")
    _sub(pod, "amount", format_cents(option.amount_cents))
    _sub(pod, "options", "EQ")
    _sub(pod, "dueDate", option.due_date.isoformat())
    _sub(pod, "detailDescription", description)
    _sub(pod, "allCCP", "true" if all_postal else "false")


def ente_fields(parent: etree._Element, ente) -> None:
    _sub(parent, "companyName", _text(ente.name, 140))
    _opt(parent, "officeName", ente.office, 140)


def verify(option, ente, description: str, all_postal: bool) -> bytes:
    env, res = envelope("paVerifyPaymentNoticeRes")
    _sub(res, "outcome", "OK")
    payment_list(res, option, description, all_postal)
    _sub(res, "paymentDescription", description)
    _sub(res, "fiscalCodePA", ente.fiscal_code)
    ente_fields(res, ente)
    return serialize(env)


def demand(option, ente, description: str, transfers) -> bytes:
    env, res = envelope("paDemandPaymentNoticeResponse")
    _sub(res, "outcome", "OK")
    qr = _sub(res, "qrCode")
    _sub(qr, "fiscalCode", ente.fiscal_code)
    _sub(qr, "noticeNumber", option.notice_number)
    all_postal = bool(transfers) and all(t.postal_iban for t in transfers)
    payment_list(res, option, description, all_postal)
    _sub(res, "paymentDescription", description)
    _sub(res, "fiscalCodePA", ente.fiscal_code)
    ente_fields(res, ente)
    return serialize(env)


def subject(parent: etree._Element, tag: str, position) -> None:
    s = _sub(parent, tag)
    uid = _sub(s, "uniqueIdentifier")
    _sub(uid, "entityUniqueIdentifierType", position.debtor_type)
    value = (position.debtor_fiscal_code or "").strip()
    _sub(uid, "entityUniqueIdentifierValue", value[:16] if len(value) >= 2 else "ANONIMO")
    _sub(s, "fullName", _text(position.debtor_name, 70))
    _opt(s, "streetName", position.debtor_street, 70)
    _opt(s, "civicNumber", position.debtor_civic_number, 16)
    _opt(s, "postalCode", position.debtor_postal_code, 16)
    _opt(s, "city", position.debtor_city, 35)
    _opt(s, "stateProvinceRegion", position.debtor_province, 35)
    if position.debtor_nation and _COUNTRY.match(position.debtor_nation):
        _sub(s, "country", position.debtor_nation)
    if (
        position.debtor_email
        and len(position.debtor_email) <= 256
        and _EMAIL.match(position.debtor_email)
    ):
        _sub(s, "e-mail", position.debtor_email)


def metadata(parent: etree._Element, entries: Iterable[dict] | None) -> None:
    entries = [e for e in (entries or []) if e.get("key") and e.get("value")][:15]
    if entries:
        md = _sub(parent, "metadata")
        for e in entries:
            me = _sub(md, "mapEntry")
            _sub(me, "key", str(e["key"])[:140])
            _sub(me, "value", str(e["value"])[:140])


def get_payment(
    option,
    ente,
    position,
    transfers,
    *,
    v2: bool,
    postal: bool = False,
    notification_fee_cents: int | None = None,
) -> bytes:
    """paGetPaymentRes (V1) or paGetPaymentV2Response with the option's data; V2 carries a
    SEND notification fee (already in the amounts) as the NOTIFICATION_FEE metadata."""
    env, res = envelope("paGetPaymentV2Response" if v2 else "paGetPaymentRes")
    _sub(res, "outcome", "OK")
    data = _sub(res, "data")
    _sub(data, "creditorReferenceId", option.iuv)
    _sub(data, "paymentAmount", format_cents(option.amount_cents))
    _sub(data, "dueDate", option.due_date.isoformat())
    if option.retention_date:
        end = dt.datetime.combine(option.retention_date, dt.time(23, 59, 59))
        _sub(data, "retentionDate", end.isoformat())
    _sub(data, "description", _text(option.description or position.description, 140))
    ente_fields(data, ente)
    subject(data, "debtor", position)
    tl = _sub(data, "transferList")
    for t in transfers:
        tr = _sub(tl, "transfer")
        _sub(tr, "idTransfer", t.id_transfer)
        _sub(tr, "transferAmount", format_cents(t.amount_cents))
        _sub(tr, "fiscalCodePA", t.beneficiary_fiscal_code)
        if v2 and t.beneficiary_fiscal_code == ente.fiscal_code:
            _sub(tr, "companyName", _text(ente.name, 140))
        iban = (t.postal_iban or t.iban) if postal else (t.iban or t.postal_iban)
        if iban or not v2:
            _sub(tr, "IBAN", iban or "")
        else:  # V2 only: a digital revenue stamp instead of an account
            stamp = _sub(tr, "richiestaMarcaDaBollo")
            _sub(stamp, "hashDocumento", t.stamp_hash)
            _sub(stamp, "tipoBollo", t.stamp_type or "01")
            _sub(stamp, "provinciaResidenza", t.stamp_province or "RM")
        _sub(tr, "remittanceInformation", _text(t.remittance_information, 140))
        _sub(tr, "transferCategory", _text(t.category, 140))
        metadata(tr, t.metadata_entries)
    if v2 and notification_fee_cents:  # issue 20: SEND notification fee, in euro cents
        metadata(data, [{"key": "NOTIFICATION_FEE", "value": str(notification_fee_cents)}])
    return serialize(env)
