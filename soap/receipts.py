"""ctReceipt / ctReceiptV2 (already schema-valid) to a hub Receipt row.

The schema lets through values Python or the database cannot hold (``T24:00:00``, year 10000,
negative years, texts longer than a column): each is a ReceiptValueError, answered
PAA_SINTASSI_EXTRAXSD, never PAA_SYSTEM_ERROR (the Node retries a system error forever).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol, cast

import sqlalchemy as sa
from lxml import etree
from sqlalchemy.orm.attributes import manager_of_class

from hub.db import ROME
from hub.models import Receipt
from hub.values.money import to_cents
from hub.xmlsafe import UnsafeXml, encoding_of


class ReceiptValueError(ValueError):
    """A receipt value the schema admits but no date, time or column can hold."""


def raw_text(body: bytes) -> str:
    """The request as received, as text for storage (UTF-8 or UTF-16, already checked)."""
    try:
        encoding = encoding_of(body)
    except UnsafeXml:
        encoding = "utf-8"
    return body.decode(encoding, "replace")


class _Fields(Protocol):
    """What the readers below ask of a receipt: an element, or its children read once."""

    def findtext(self, tag: str) -> str | None: ...


def _t(elt: _Fields, tag: str) -> str | None:
    value = elt.findtext(tag)
    return value.strip() if value is not None else None


def _cents(elt: _Fields, tag: str) -> int | None:
    value = _t(elt, tag)
    return to_cents(value, allow_zero=True) if value is not None else None


def _bool(elt: _Fields, tag: str) -> bool | None:
    value = _t(elt, tag)
    return None if value is None else value in ("true", "1")


def _date(elt: _Fields, tag: str) -> dt.date | None:
    value = _t(elt, tag)
    if not value:
        return None
    try:
        if len(value) > 10 and value[10] not in "Z+-":
            raise ValueError(value)
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        raise ReceiptValueError(f"{tag} {value[:40]!r} is not a date we can store") from None


def _datetime(elt: _Fields, tag: str) -> dt.datetime | None:
    value = _t(elt, tag)
    if not value:
        return None
    try:
        stamp = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        if stamp.tzinfo is None:  # the Node writes Italian local time without an offset
            stamp = stamp.replace(tzinfo=ROME)  # +01:00 in winter, +02:00 in summer
        return stamp.astimezone(dt.UTC)
    except (ValueError, OverflowError):
        raise ReceiptValueError(f"{tag} {value[:40]!r} is not a time we can store") from None


# the receipt's text columns with a length, by attribute: (attribute, limit), read once
_LIMITS = [
    (prop.key, prop.columns[0].type.length)
    for prop in sa.inspect(Receipt).column_attrs
    if isinstance(prop.columns[0].type, sa.String) and prop.columns[0].type.length
]


def _check_lengths(receipt: Receipt) -> None:
    state = receipt.__dict__
    for key, limit in _LIMITS:
        value = state.get(key)
        if isinstance(value, str) and len(value) > limit:
            raise ReceiptValueError(f"{key} is longer than {limit} characters")


def _children(elt: etree._Element | None) -> dict:
    if elt is None:
        return {}
    return {
        c.tag: (c.text or "").strip() if len(c) == 0 else _children(c)
        for c in elt
        if isinstance(c.tag, str)
    }


def _metadata(elt: etree._Element | None) -> list[dict[str, str]] | None:
    if elt is None:
        return None
    return [
        {"key": me.findtext("key"), "value": me.findtext("value")} for me in elt.findall("mapEntry")
    ]


def _subject(elt: etree._Element | None) -> tuple[dict | None, str | None]:
    if elt is None:
        return None, None
    data = _children(elt)
    return data, data.get("uniqueIdentifier", {}).get("entityUniqueIdentifierValue")


class _Texts:
    """A receipt's own children read once (the first of each tag): ``findtext`` as lxml's,
    without a scan of the receipt's children for each of its thirty fields."""

    __slots__ = ("_texts",)

    def __init__(self, elt: etree._Element) -> None:
        texts: dict[str, str] = {}
        for child in elt:
            if isinstance(child.tag, str) and child.tag not in texts:
                texts[child.tag] = child.text or ""
        self._texts = texts

    def findtext(self, tag: str) -> str | None:
        return self._texts.get(tag)


_RECEIPTS = manager_of_class(Receipt)


def _new_receipt(**values: Any) -> Receipt:
    """A new (transient) Receipt with ``values``: what ``Receipt(**values)`` makes, its
    values put in place at once rather than through each attribute's events (a receipt has
    thirty-odd columns; no validator, no mutable type, no relationship among them: a test
    checks), a twentieth of the time. Its INSERT reads them where the constructor leaves them."""
    stored = cast(Receipt, _RECEIPTS.new_instance())
    stored.__dict__.update(values)
    return stored


def receipt_from_xml(receipt: etree._Element, *, version: int, raw_xml: str) -> Receipt:
    own = _Texts(receipt)
    transfers = []
    for t in receipt.find("transferList").findall("transfer"):
        item = {k: v for k, v in _children(t).items() if k != "metadata"}
        item["metadata"] = _metadata(t.find("metadata"))
        transfers.append(item)
    debtor, debtor_cf = _subject(receipt.find("debtor"))
    payer, payer_cf = _subject(receipt.find("payer"))
    standin = _bool(own, "standIn")
    if standin is None:
        standin = _bool(own, "standin")
    stored = _new_receipt(
        ec_fiscal_code=_t(own, "fiscalCode"),
        receipt_id=_t(own, "receiptId"),
        primitive_version=version,
        notice_number=_t(own, "noticeNumber"),
        creditor_reference_id=_t(own, "creditorReferenceId"),
        payment_amount_cents=_cents(own, "paymentAmount"),
        description=_t(own, "description"),
        company_name=_t(own, "companyName"),
        office_name=_t(own, "officeName"),
        outcome=_t(own, "outcome"),
        debtor=debtor,
        payer=payer,
        debtor_fiscal_code=debtor_cf,
        payer_fiscal_code=payer_cf,
        id_psp=_t(own, "idPSP"),
        psp_fiscal_code=_t(own, "pspFiscalCode"),
        psp_vat_number=_t(own, "pspPartitaIVA"),
        psp_company_name=_t(own, "PSPCompanyName"),
        id_channel=_t(own, "idChannel"),
        channel_description=_t(own, "channelDescription"),
        payment_method=_t(own, "paymentMethod"),
        fee_cents=_cents(own, "fee"),
        primary_ci_incurred_fee_cents=_cents(own, "primaryCiIncurredFee"),
        id_bundle=_t(own, "idBundle"),
        id_ci_bundle=_t(own, "idCiBundle"),
        payment_date_time=_datetime(own, "paymentDateTime"),
        application_date=_date(own, "applicationDate"),
        transfer_date=_date(own, "transferDate"),
        standin=bool(standin),
        transfers=transfers,
        metadata_entries=_metadata(receipt.find("metadata")),
        raw_xml=raw_xml,
    )
    _check_lengths(stored)
    return stored
