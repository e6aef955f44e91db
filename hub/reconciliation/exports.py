"""Downloads of reconciliation data: a reporting flow as XML and as CSV, the bank credits
filtered and as CSV.

A flow fetched with the legacy SOAP call is given back as the XML the Node sent. A flow from
FdR 3 (JSON) is rebuilt as a FlussoRiversamento from what was stored (the flow's columns, its
entries, the sender's and receiver's names in the JSON as fetched) and validated against the
official XSD: 1.0.4 when every outcome code is one 1.0.4 knows (0, 3, 9), otherwise 1.0.5 (its
Stand-In codes 4 and 8). A flow that does not validate is not served (``InvalidFlow``).

CSV rows are tuples here, amounts with a decimal comma as Italian spreadsheets read them (the
search export's convention); the caller writes them with the one CSV writer (hub.csvsafe, its
spreadsheet dialect).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from lxml import etree
from sqlalchemy.orm import Session

from hub.models import BankCredit, Ente, PaymentOption, ReportingEntry, ReportingFlow
from hub.reconciliation import flows

XSD_1_0_4, XSD_1_0_5 = flows.DEFAULT_XSD
CODES_1_0_4 = frozenset({"0", "3", "9"})
# FdR 3's sender.type -> tipoIdentificativoUnivoco
SENDER_TYPES = {"LEGAL_PERSON": "G", "ABI_CODE": "A", "BIC_CODE": "B"}


def money(cents: int | None) -> str:
    """12345 -> "123.45", as FlussoRiversamento writes amounts."""
    if cents is None:
        return ""
    return f"{'-' if cents < 0 else ''}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def money_comma(cents: int | None) -> str:
    """12345 -> "123,45", for the CSV files."""
    return money(cents).replace(".", ",")


# --- a flow as XML ---------------------------------------------------------------------------


def flow_xml(session: Session, flow: ReportingFlow, *, xsd_dir: Path | None = None) -> bytes:
    """The flow as a FlussoRiversamento document (UTF-8 bytes)."""
    if flow.raw_xml is not None and flow.revision is None:
        return flow.raw_xml.encode()
    return rebuild_xml(session, flow, xsd_dir=xsd_dir)


def _schema_for(codes: set[str], xsd_dir: Path | None) -> tuple[str, etree.XMLSchema | None]:
    version, path = ("1.0.4", XSD_1_0_4) if codes <= CODES_1_0_4 else ("1.0.5", XSD_1_0_5)
    if xsd_dir is not None:
        path = xsd_dir / path.name
    found = flows.schemas([path])
    return version, found[0] if found else None


def _object(data: Any, key: str) -> dict[str, Any]:
    found = data.get(key) if isinstance(data, dict) else None
    return found if isinstance(found, dict) else {}


def _raw(flow: ReportingFlow) -> dict[str, Any]:
    """The SingleFlowResponse as fetched (empty when it cannot be read)."""
    try:
        return _object(json.loads(flow.raw_json or "{}"), "flow")
    except ValueError:
        return {}


def rebuild_xml(session: Session, flow: ReportingFlow, *, xsd_dir: Path | None = None) -> bytes:
    """An FdR 3 flow rebuilt as FlussoRiversamento, validated against its XSD."""
    entries = list(
        session.scalars(
            sa.select(ReportingEntry)
            .where(ReportingEntry.flow_pk == flow.id)
            .order_by(ReportingEntry.id)
        )
    )
    if not entries:
        raise flows.InvalidFlow(f"flow {flow.flow_id} has no entries")
    raw = _raw(flow)
    sender, receiver = _object(raw, "sender"), _object(raw, "receiver")
    ente_code = str(receiver.get("organizationId") or "") or _ente_code(session, flow)
    version, schema = _schema_for({e.outcome_code for e in entries}, xsd_dir)

    ns = flows.FDR

    def el(parent: etree._Element, name: str, text: Any = None) -> etree._Element:
        child = etree.SubElement(parent, f"{{{ns}}}{name}")
        if text is not None:
            child.text = str(text)
        return child

    root = etree.Element(f"{{{ns}}}FlussoRiversamento", nsmap={"pay_i": ns})
    el(root, "versioneOggetto", "1.0")
    el(root, "identificativoFlusso", flow.flow_id)
    el(root, "dataOraFlusso", flow.flow_datetime.isoformat(timespec="seconds"))
    el(root, "identificativoUnivocoRegolamento", flow.settlement_id)
    el(root, "dataRegolamento", flow.settlement_date.isoformat())
    sender_el = el(root, "istitutoMittente")
    sid = el(sender_el, "identificativoUnivocoMittente")
    el(sid, "tipoIdentificativoUnivoco", SENDER_TYPES.get(str(sender.get("type")), "B"))
    el(sid, "codiceIdentificativoUnivoco", flow.psp_id)
    name = flow.psp_name or sender.get("pspName")
    if name and 3 <= len(name) <= 70:
        el(sender_el, "denominazioneMittente", name)
    if flow.bic:
        el(root, "codiceBicBancaDiRiversamento", flow.bic)
    receiver_el = el(root, "istitutoRicevente")
    rid = el(receiver_el, "identificativoUnivocoRicevente")
    el(rid, "tipoIdentificativoUnivoco", "G")
    el(rid, "codiceIdentificativoUnivoco", ente_code)
    receiver_name = receiver.get("organizationName")
    if receiver_name:
        el(receiver_el, "denominazioneRicevente", str(receiver_name)[:140])
    el(root, "numeroTotalePagamenti", flow.declared_count)
    el(root, "importoTotalePagamenti", money(flow.declared_total_cents))
    for e in entries:
        item = el(root, "datiSingoliPagamenti")
        el(item, "identificativoUnivocoVersamento", e.iuv)
        el(item, "identificativoUnivocoRiscossione", e.iur)
        if e.transfer_index is not None:
            el(item, "indiceDatiSingoloPagamento", e.transfer_index)
        el(item, "singoloImportoPagato", money(e.amount_cents))
        el(item, "codiceEsitoSingoloPagamento", e.outcome_code)
        el(item, "dataEsitoSingoloPagamento", e.outcome_date.isoformat())
    if schema is not None and not schema.validate(root):
        error = schema.error_log.last_error
        raise flows.InvalidFlow(
            f"flow {flow.flow_id} rebuilt is not valid FlussoRiversamento {version}: "
            f"{error.message if error else 'invalid'}"
        )
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")  # type: ignore[no-any-return]


def _ente_code(session: Session, flow: ReportingFlow) -> str:
    return str(session.scalar(sa.select(Ente.fiscal_code).where(Ente.id == flow.ente_id)))


# --- a flow as CSV ---------------------------------------------------------------------------

FLOW_CSV_HEADER = (
    "flow_id",
    "revision",
    "flow_datetime",
    "psp",
    "settlement_id",
    "settlement_date",
    "iuv",
    "iur",
    "transfer_index",
    "amount",
    "outcome_code",
    "pay_status",
    "outcome_date",
    "match",
    "notice_number",
)


def flow_csv_rows(session: Session, flow: ReportingFlow) -> Iterator[tuple[Any, ...]]:
    """The header, then one row per entry of the flow."""
    yield FLOW_CSV_HEADER
    rows = session.execute(
        sa.select(ReportingEntry, PaymentOption.notice_number)
        .outerjoin(PaymentOption, PaymentOption.id == ReportingEntry.option_id)
        .where(ReportingEntry.flow_pk == flow.id)
        .order_by(ReportingEntry.id)
        .execution_options(yield_per=1000)
    )
    head = (
        flow.flow_id,
        flow.revision if flow.revision is not None else "",
        flow.flow_datetime.isoformat(timespec="seconds"),
        flow.psp_id,
        flow.settlement_id,
        flow.settlement_date.isoformat(),
    )
    for entry, notice in rows:
        yield (
            *head,
            entry.iuv,
            entry.iur,
            entry.transfer_index if entry.transfer_index is not None else "",
            money_comma(entry.amount_cents),
            entry.outcome_code,
            entry.pay_status or "",
            entry.outcome_date.isoformat(),
            entry.match,
            notice or "",
        )


# --- bank credits ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CreditFilters:
    date_from: dt.date | None = None  # value date, both ends included
    date_to: dt.date | None = None
    amount_min_cents: int | None = None
    amount_max_cents: int | None = None
    matched: bool | None = None  # True: status matched; False: any other status
    flow_id: str = ""

    @property
    def empty(self) -> bool:
        return self == CreditFilters()


def credits_query(ente_id: int, filters: CreditFilters) -> sa.Select[BankCredit, str]:
    """The Ente's credits, newest first: rows of (BankCredit, matched flow's id or None)."""
    query = (
        sa.select(BankCredit, ReportingFlow.flow_id)
        .outerjoin(ReportingFlow, ReportingFlow.id == BankCredit.flow_pk)
        .where(BankCredit.ente_id == ente_id)
    )
    f = filters
    if f.date_from:
        query = query.where(BankCredit.value_date >= f.date_from)
    if f.date_to:
        query = query.where(BankCredit.value_date <= f.date_to)
    if f.amount_min_cents is not None:
        query = query.where(BankCredit.amount_cents >= f.amount_min_cents)
    if f.amount_max_cents is not None:
        query = query.where(BankCredit.amount_cents <= f.amount_max_cents)
    if f.matched is True:
        query = query.where(BankCredit.status == "matched")
    elif f.matched is False:
        query = query.where(BankCredit.status != "matched")
    if f.flow_id:
        query = query.where(
            sa.or_(BankCredit.flow_id == f.flow_id, ReportingFlow.flow_id == f.flow_id)
        )
    return query.order_by(BankCredit.value_date.desc(), BankCredit.id.desc())


def bank_credits(
    session: Session, ente_id: int, filters: CreditFilters, limit: int = 200
) -> Sequence[Any]:
    return session.execute(credits_query(ente_id, filters).limit(limit)).all()


CREDIT_CSV_HEADER = (
    "value_date",
    "booking_date",
    "amount",
    "description",
    "reference",
    "counterparty",
    "iban",
    "flow_id",
    "status",
    "source_file",
    "source_line",
)


def credit_csv_rows(
    session: Session, ente_id: int, filters: CreditFilters
) -> Iterator[tuple[Any, ...]]:
    yield CREDIT_CSV_HEADER
    rows = session.execute(credits_query(ente_id, filters).execution_options(yield_per=1000))
    for credit, flow_id in rows:
        yield (
            credit.value_date.isoformat(),
            credit.booking_date.isoformat() if credit.booking_date else "",
            money_comma(credit.amount_cents),
            credit.description,
            credit.reference or "",
            credit.counterparty or "",
            credit.iban or "",
            flow_id or credit.flow_id or "",
            credit.status,
            credit.source_file,
            credit.source_line,
        )
