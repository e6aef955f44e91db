"""Receipts as the Node builds them from the station's paGetPayment answer (ctReceipt/V2)."""

from __future__ import annotations

import base64
import copy
import dataclasses
import datetime as dt
import zoneinfo
from decimal import Decimal
from typing import Any

from lxml import etree

from nodesim import soapwire
from nodesim.psps import METHODS, Psp
from nodesim.soapwire import sub

# MBDAttachment placeholder for a revenue-stamp transfer (a MarcaDaBollo document in real life)
_MBD = base64.b64encode(b"<marcaDaBollo>simulated</marcaDaBollo>").decode()

ROME = zoneinfo.ZoneInfo("Europe/Rome")  # the Node's offset-less times are Italian


@dataclasses.dataclass
class Payment:
    """What a PSP took: enough for the receipt, the reporting flow and the bank."""

    receipt_id: str
    ec: str
    notice_number: str
    iuv: str
    amount: Decimal
    description: str
    company_name: str
    office_name: str | None
    debtor: etree._Element
    transfers: list[dict[str, Any]]
    metadata: etree._Element | None
    psp: Psp
    method: str
    fee: Decimal
    payer: dict[str, Any] | None
    paid_at: dt.datetime
    standin: bool = False
    payment_note: str | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "receiptId": self.receipt_id,
            "fiscalCode": self.ec,
            "noticeNumber": self.notice_number,
            "iuv": self.iuv,
            "amount": soapwire.amount(self.amount),
            "psp": self.psp.id,
            "method": self.method,
            "fee": soapwire.amount(self.fee),
            "paidAt": self.paid_at.isoformat(),
            "standIn": self.standin,
            # the receiptId is the Node's paymentToken, valid 30 minutes from activation
            "paymentToken": self.receipt_id,
            "tokenExpiresAt": (self.paid_at + dt.timedelta(minutes=30)).isoformat(),
        }


def payment_from_data(
    data: etree._Element,
    *,
    receipt_id: str,
    ec: str,
    notice: str,
    psp: Psp,
    method: str,
    payer: dict[str, Any] | None,
    paid_at: dt.datetime,
    standin: bool = False,
    payment_note: str | None = None,
) -> Payment:
    """A Payment from a paGetPayment(V2) ``data`` element (ctPaymentPA or ctPaymentPAV2)."""
    transfers = []
    for t in data.findall("transferList/transfer"):
        transfers.append(
            {
                "idTransfer": int(t.findtext("idTransfer")),
                "amount": Decimal(t.findtext("transferAmount")),
                "fiscalCodePA": t.findtext("fiscalCodePA"),
                "companyName": t.findtext("companyName"),
                "IBAN": t.findtext("IBAN"),
                "bollo": t.find("richiestaMarcaDaBollo") is not None,
                "remittanceInformation": t.findtext("remittanceInformation"),
                "transferCategory": t.findtext("transferCategory"),
                "metadata": t.find("metadata"),
            }
        )
    return Payment(
        receipt_id=receipt_id,
        ec=ec,
        notice_number=notice,
        iuv=data.findtext("creditorReferenceId"),
        amount=Decimal(data.findtext("paymentAmount")),
        description=data.findtext("description"),
        company_name=data.findtext("companyName") or ec,
        office_name=data.findtext("officeName"),
        debtor=data.find("debtor"),
        transfers=transfers,
        metadata=data.find("metadata"),
        psp=psp,
        method=method,
        fee=psp.fee(method),
        payer=payer,
        paid_at=paid_at,
        standin=standin,
        payment_note=payment_note,
    )


# what ``newer=True`` adds: elements pagoPA sends that paForNode.xsd does not have (yet)
NEWER_IN_TRANSFER = "transferNote"


def receipt_element(payment: Payment, version: int, newer: bool = False) -> etree._Element:
    """The ``receipt`` child of paSendRTReq (V1) or paSendRTV2Request (V2), in XSD order.

    ``newer``: as pagoPA's receipts since the April 2026 V2 switch, with elements the XSD does
    not have: ``<paymentNote>`` right after ``<description>`` (instead of its V2 place) and an
    unknown ``<transferNote>`` at the end of every transfer."""
    r = etree.Element("receipt")
    sub(r, "receiptId", payment.receipt_id)
    sub(r, "noticeNumber", payment.notice_number)
    sub(r, "fiscalCode", payment.ec)
    sub(r, "outcome", "OK")
    sub(r, "creditorReferenceId", payment.iuv)
    sub(r, "paymentAmount", soapwire.amount(payment.amount))
    sub(r, "description", payment.description)
    if newer:
        sub(r, "paymentNote", (payment.payment_note or payment.description)[:210])
    sub(r, "companyName", payment.company_name)
    if payment.office_name:
        sub(r, "officeName", payment.office_name)
    r.append(copy.deepcopy(payment.debtor))
    tl = sub(r, "transferList")
    for t in payment.transfers:
        _transfer(tl, t, version, newer)
    psp = payment.psp
    sub(r, "idPSP", psp.id)
    sub(r, "pspFiscalCode", psp.fiscal_code)
    sub(r, "pspPartitaIVA", psp.vat_number)
    sub(r, "PSPCompanyName", psp.name)
    sub(r, "idChannel", psp.channel)
    sub(r, "channelDescription", psp.channel_description[:35])
    if payment.payer:
        soapwire.subject(r, "payer", payment.payer)
    sub(r, "paymentMethod", METHODS.get(payment.method, payment.method))
    if version == 2 and payment.payment_note and not newer:
        sub(r, "paymentNote", payment.payment_note[:210])
    sub(r, "fee", soapwire.amount(payment.fee))
    if version == 2:
        sub(r, "primaryCiIncurredFee", "0.00")
        sub(r, "idBundle", f"bundle-{psp.id}-{payment.method}")
    # as the Node writes them: Italian local time without an offset (xs:dateTime), and the
    # Italian calendar day of the payment (applicationDate) and of the transfer after it
    paid = payment.paid_at.astimezone(ROME).replace(microsecond=0, tzinfo=None)
    sub(r, "paymentDateTime", paid.isoformat())
    sub(r, "applicationDate", paid.date().isoformat())
    sub(r, "transferDate", (paid.date() + dt.timedelta(days=1)).isoformat())
    if payment.metadata is not None:
        r.append(copy.deepcopy(payment.metadata))
    sub(r, "standIn", "true" if payment.standin else "false")
    return r


def _transfer(parent: etree._Element, t: dict[str, Any], version: int, newer: bool) -> None:
    elt = sub(parent, "transfer")
    sub(elt, "idTransfer", t["idTransfer"])
    sub(elt, "transferAmount", soapwire.amount(t["amount"]))
    sub(elt, "fiscalCodePA", t["fiscalCodePA"])
    if version == 2:
        if t.get("companyName"):
            sub(elt, "companyName", t["companyName"])
        if t.get("bollo"):
            sub(elt, "MBDAttachment", _MBD)
        else:
            sub(elt, "IBAN", t["IBAN"])
    else:
        sub(elt, "IBAN", t["IBAN"] or "")
    sub(elt, "remittanceInformation", t["remittanceInformation"])
    sub(elt, "transferCategory", t["transferCategory"])
    if t.get("metadata") is not None:
        elt.append(copy.deepcopy(t["metadata"]))
    if newer:
        sub(elt, NEWER_IN_TRANSFER, f"quota {t['idTransfer']}")
