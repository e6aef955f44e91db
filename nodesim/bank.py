"""The Ente's bank: an account statement with one credit per reporting flow, CSV and camt.053."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable
from decimal import Decimal

from lxml import etree

from nodesim import soapwire
from nodesim.reporting import Credit

CAMT053 = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"
CSV_COLUMNS = [
    "booking_date",
    "value_date",
    "amount",
    "currency",
    "credit_debit",
    "iban",
    "counterparty",
    "counterparty_bic",
    "reference",
    "description",
]


def statement_csv(credits: Iterable[Credit]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for c in credits:
        writer.writerow(
            [
                c.booking_date.isoformat(),
                c.booking_date.isoformat(),
                soapwire.amount(c.amount),
                "EUR",
                "C",
                c.iban,
                c.debtor_name,
                c.debtor_bic,
                c.reference,
                c.description,
            ]
        )
    return out.getvalue()


def statement_camt053(
    credits: list[Credit], iban: str, now: dt.datetime, opening: Decimal = Decimal("0.00")
) -> bytes:
    """A BkToCstmrStmt for one account: opening balance, one CRDT entry per flow, closing."""

    def el(
        parent: etree._Element, tag: str, text: str | None = None, **attrs: str
    ) -> etree._Element:
        child = etree.SubElement(parent, f"{{{CAMT053}}}{tag}", **attrs)
        if text is not None:
            child.text = text
        return child

    stamp = now.astimezone(dt.UTC).replace(microsecond=0, tzinfo=None).isoformat()
    doc = etree.Element(f"{{{CAMT053}}}Document", nsmap={None: CAMT053})
    stmt_root = el(doc, "BkToCstmrStmt")
    hdr = el(stmt_root, "GrpHdr")
    el(hdr, "MsgId", f"NODESIM-{now:%Y%m%d%H%M%S}")
    el(hdr, "CreDtTm", stamp)
    stmt = el(stmt_root, "Stmt")
    el(stmt, "Id", f"STMT-{now:%Y%m%d}-{iban[-17:]}")  # Max35Text
    el(stmt, "CreDtTm", stamp)
    el(el(el(stmt, "Acct"), "Id"), "IBAN", iban)
    total = sum((c.amount for c in credits), Decimal("0.00"))
    day = now.date().isoformat()
    for code, value in (("OPBD", opening), ("CLBD", opening + total)):
        bal = el(stmt, "Bal")
        el(el(el(bal, "Tp"), "CdOrPrtry"), "Cd", code)
        el(bal, "Amt", soapwire.amount(value), Ccy="EUR")
        el(bal, "CdtDbtInd", "CRDT")
        el(el(bal, "Dt"), "Dt", day)
    for c in credits:
        ntry = el(stmt, "Ntry")
        el(ntry, "Amt", soapwire.amount(c.amount), Ccy="EUR")
        el(ntry, "CdtDbtInd", "CRDT")
        el(ntry, "Sts", "BOOK")
        el(el(ntry, "BookgDt"), "Dt", c.booking_date.isoformat())
        el(el(ntry, "ValDt"), "Dt", c.booking_date.isoformat())
        domn = el(el(ntry, "BkTxCd"), "Domn")
        el(domn, "Cd", "PMNT")
        fmly = el(domn, "Fmly")
        el(fmly, "Cd", "RCDT")
        el(fmly, "SubFmlyCd", "ESCT")
        tx = el(el(ntry, "NtryDtls"), "TxDtls")
        refs = el(tx, "Refs")
        el(refs, "AcctSvcrRef", c.reference)
        el(refs, "EndToEndId", c.reference)
        parties = el(tx, "RltdPties")
        el(el(parties, "Dbtr"), "Nm", c.debtor_name)
        el(el(el(tx, "RltdAgts"), "DbtrAgt"), "FinInstnId").append(_bic(c.debtor_bic))
        el(el(tx, "RmtInf"), "Ustrd", c.description)
    return etree.tostring(doc, xml_declaration=True, encoding="UTF-8")


def _bic(bic: str) -> etree._Element:
    elt = etree.Element(f"{{{CAMT053}}}BIC")
    elt.text = bic
    return elt
