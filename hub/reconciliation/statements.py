"""Bank reconciliation: the Ente's statement credits matched to reporting flows.

``load_statement`` reads a statement (the CSV or the camt.053 the bank gives, see nodesim/bank.py),
stores each credit once and matches it to the newest version of the flow named in its
description (``/PUR/LGPE-RIVERSAMENTO/URI/<flow id>``). A credit for exactly the flow's total
(the sum of its entries, what the PSP moved) reconciles the flow: every option reported by it
goes reported -> reconciled through hub.payments. Anything else opens an Anomaly: a credit for
another amount, naming a flow we do not hold (yet: when the flow arrives, the credit is
matched then), or naming none (kept, unmatched); and, from the periodic check
``flows_without_credit``, a flow with no credit after N days.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import cast

import sqlalchemy as sa
import structlog
from lxml import etree
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub import payments
from hub.db import utcnow
from hub.errors import DomainError
from hub.models import Anomaly, BankCredit, Ente, ReportingEntry, ReportingFlow
from hub.xmlsafe import parse_untrusted
from workflows.payment import OptionStatus

log = structlog.get_logger(__name__)

FLOW_REFERENCE = re.compile(r"/PUR/LGPE-RIVERSAMENTO/URI/([a-zA-Z0-9\-_]{1,35})", re.IGNORECASE)
CAMT053 = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"
CSV_COLUMNS = ("booking_date", "value_date", "amount", "currency", "credit_debit", "description")
OPEN_FLOW_STATES = ("received", "anomalous")
DEFAULT_CREDIT_DAYS = 3


class InvalidStatement(DomainError):
    """A statement we cannot read: unknown format, missing column, bad amount or date."""

    code = "invalid_statement"


@dataclass(frozen=True)
class StatementLine:
    line: int
    value_date: dt.date
    booking_date: dt.date | None
    amount_cents: int
    description: str
    reference: str | None = None
    counterparty: str | None = None
    iban: str | None = None

    @property
    def flow_id(self) -> str | None:
        found = FLOW_REFERENCE.search(self.description)
        return found.group(1) if found else None


@dataclass
class StatementOutcome:
    added: list[BankCredit] = field(default_factory=list)
    duplicates: int = 0
    reconciled: int = 0  # options moved to reconciled
    anomalies: list[str] = field(default_factory=list)


# --- reading statements ----------------------------------------------------------------------


def _cents(value: str, line: int) -> int:
    try:
        amount = Decimal(value.strip().replace(",", "."))
    except InvalidOperation:
        raise InvalidStatement(f"line {line}: amount {value!r} is not a number") from None
    if not amount.is_finite() or amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise InvalidStatement(f"line {line}: amount {value!r} is not an amount in euro")
    if amount <= 0:
        raise InvalidStatement(f"line {line}: a credit of {value!r} is not positive")
    return int(amount * 100)


def _date(value: str | None, line: int) -> dt.date:
    try:
        return dt.date.fromisoformat((value or "").strip()[:10])
    except ValueError:
        raise InvalidStatement(f"line {line}: {value!r} is not a date") from None


def read_csv(data: bytes) -> list[StatementLine]:
    """The credits (credit_debit C) of a CSV statement with a header row; debits are skipped."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidStatement("the CSV statement is not UTF-8") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        raise InvalidStatement(f"the CSV statement has no column {', '.join(missing)}")
    lines = []
    for row in reader:
        n = reader.line_num
        if (row["credit_debit"] or "").strip().upper() != "C":
            continue
        if (row["currency"] or "EUR").strip().upper() != "EUR":
            raise InvalidStatement(f"line {n}: currency {row['currency']!r}, not EUR")
        lines.append(
            StatementLine(
                line=n,
                value_date=_date(row["value_date"], n),
                booking_date=_date(row["booking_date"], n) if row["booking_date"] else None,
                amount_cents=_cents(row["amount"] or "", n),
                description=(row["description"] or "").strip(),
                reference=(row.get("reference") or "").strip() or None,
                counterparty=(row.get("counterparty") or "").strip() or None,
                iban=(row.get("iban") or "").strip() or None,
            )
        )
    return lines


def read_camt053(data: bytes) -> list[StatementLine]:
    """The booked credit entries (CRDT, BOOK) of a camt.053.001.02, one line per entry (per
    transaction when an entry batches several). Parsed with the hardened parser."""
    root = parse_untrusted(data)
    if root.tag != f"{{{CAMT053}}}Document":
        raise InvalidStatement(f"not a camt.053.001.02 Document: {root.tag}")
    ns = {"c": CAMT053}
    lines = []
    for stmt in root.iterfind("c:BkToCstmrStmt/c:Stmt", ns):
        iban = stmt.findtext("c:Acct/c:Id/c:IBAN", namespaces=ns)
        for n, entry in enumerate(stmt.iterfind("c:Ntry", ns), 1):
            if (
                entry.findtext("c:CdtDbtInd", namespaces=ns) != "CRDT"
                or (entry.findtext("c:Sts", namespaces=ns) or "BOOK") != "BOOK"
            ):
                continue
            value_date = entry.findtext("c:ValDt/c:Dt", namespaces=ns) or entry.findtext(
                "c:ValDt/c:DtTm", namespaces=ns
            )
            booking = entry.findtext("c:BookgDt/c:Dt", namespaces=ns)
            details = entry.findall("c:NtryDtls/c:TxDtls", ns)
            for tx in details or [None]:
                lines.append(
                    _camt_line(
                        entry, tx, n, value_date, booking, iban, ns, batched=len(details) > 1
                    )
                )
    return lines


def _camt_line(
    entry: etree._Element,
    tx: etree._Element | None,
    n: int,
    value_date: str | None,
    booking: str | None,
    iban: str | None,
    ns: dict[str, str],
    *,
    batched: bool,
) -> StatementLine:
    amount = entry.findtext("c:Amt", namespaces=ns)
    if batched and tx is not None:
        amount = tx.findtext("c:AmtDtls/c:TxAmt/c:Amt", namespaces=ns) or tx.findtext(
            "c:Amt", namespaces=ns
        )
    currency = entry.find("c:Amt", ns)
    if currency is not None and currency.get("Ccy", "EUR") != "EUR":
        raise InvalidStatement(f"entry {n}: currency {currency.get('Ccy')!r}, not EUR")
    ustrd = tx.findall("c:RmtInf/c:Ustrd", ns) if tx is not None else []
    reference = (
        tx.findtext("c:Refs/c:AcctSvcrRef", namespaces=ns) if tx is not None else None
    ) or entry.findtext("c:AcctSvcrRef", namespaces=ns)
    debtor = tx.findtext("c:RltdPties/c:Dbtr/c:Nm", namespaces=ns) if tx is not None else None
    return StatementLine(
        line=n,
        value_date=_date(value_date or booking, n),
        booking_date=_date(booking, n) if booking else None,
        amount_cents=_cents(amount or "", n),
        description="".join((u.text or "") for u in ustrd).strip()
        or (entry.findtext("c:AddtlNtryInf", namespaces=ns) or "").strip(),
        reference=reference,
        counterparty=debtor,
        iban=iban,
    )


def read_statement(data: bytes) -> list[StatementLine]:
    """A camt.053 (XML) or a CSV statement, told apart by the first character."""
    return (
        read_camt053(data)
        if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")
        else read_csv(data)
    )


# --- storing and matching --------------------------------------------------------------------


def _fingerprints(lines: list[StatementLine]) -> list[str]:
    seen: Counter[str] = Counter()
    prints = []
    for s in lines:
        if s.reference:
            key = f"ref|{s.reference}|{s.value_date}|{s.amount_cents}"
        else:  # identical lines in one file are distinct credits, told apart by occurrence
            base = f"line|{s.value_date}|{s.amount_cents}|{s.description}|{s.iban}"
            seen[base] += 1
            key = f"{base}|{seen[base]}"
        prints.append(hashlib.sha256(key.encode()).hexdigest())
    return prints


def load_statement(
    session: Session, ente: Ente, data: bytes, *, source_file: str, now: dt.datetime | None = None
) -> StatementOutcome:
    """Store the credits of a statement for ``ente`` and match them, in the caller's
    transaction. A credit already stored (same fingerprint) is counted as a duplicate and
    changes nothing, so loading a statement twice adds nothing. Raises InvalidStatement
    (nothing written) for a file we cannot read, UnsafeXml for a hostile XML one."""
    now = now or utcnow()
    lines = read_statement(data)
    outcome = StatementOutcome()
    for line, fingerprint in zip(lines, _fingerprints(lines), strict=True):
        if session.scalar(
            sa.select(BankCredit.id).where(
                BankCredit.ente_id == ente.id, BankCredit.fingerprint == fingerprint
            )
        ):
            outcome.duplicates += 1
            continue
        credit = BankCredit(
            ente_id=ente.id,
            fingerprint=fingerprint,
            value_date=line.value_date,
            booking_date=line.booking_date,
            amount_cents=line.amount_cents,
            description=line.description[:500],
            reference=(line.reference or None) and line.reference[:64],
            counterparty=(line.counterparty or None) and line.counterparty[:140],
            iban=line.iban,
            flow_id=line.flow_id,
            source_file=source_file[-255:],
            source_line=line.line,
            status="unmatched",
            received_at=now,
        )
        try:
            with session.begin_nested():
                session.add(credit)
                session.flush()
        except IntegrityError:  # loaded concurrently
            outcome.duplicates += 1
            continue
        outcome.added.append(credit)
        _match_credit(session, credit, outcome, now)
    log.info(
        "statement.loaded",
        ente=ente.fiscal_code,
        added=len(outcome.added),
        duplicates=outcome.duplicates,
        reconciled=outcome.reconciled,
        anomalies=len(outcome.anomalies),
    )
    return outcome


def latest_flow(session: Session, ente_id: int, flow_id: str) -> ReportingFlow | None:
    return session.scalars(
        sa.select(ReportingFlow)
        .where(ReportingFlow.ente_id == ente_id, ReportingFlow.flow_id == flow_id)
        .order_by(ReportingFlow.flow_datetime.desc())
        .limit(1)
    ).one_or_none()


def _match_credit(
    session: Session, credit: BankCredit, outcome: StatementOutcome, now: dt.datetime
) -> None:
    what = f"bank credit of {credit.amount_cents} cents on {credit.value_date}"

    def flag(kind: str, status: str, detail: str, flow: ReportingFlow | None = None) -> None:
        credit.status = status
        open_anomaly(
            session,
            kind,
            detail,
            ente_id=credit.ente_id,
            credit_pk=credit.id,
            flow_pk=flow.id if flow else None,
        )
        outcome.anomalies.append(kind)

    if credit.flow_id is None:
        return flag(
            "credit_without_flow_id",
            "no_flow_id",
            f"{what} names no reporting flow: {credit.description[:200]}",
        )
    flow = latest_flow(session, credit.ente_id, credit.flow_id)
    if flow is None:
        return flag(
            "credit_unknown_flow",
            "unknown_flow",
            f"{what} names flow {credit.flow_id}, not received (yet)",
        )
    credit.flow_pk = flow.id
    already = session.scalar(
        sa.select(BankCredit.id).where(
            BankCredit.flow_pk == flow.id,
            BankCredit.status == "matched",
            BankCredit.id != credit.id,
        )
    )
    if already:
        return flag(
            "credit_duplicate",
            "duplicate",
            f"{what}: flow {flow.flow_id} was already credited",
            flow,
        )
    if credit.amount_cents != flow.computed_total_cents:
        return flag(
            "credit_amount_mismatch",
            "amount_mismatch",
            f"{what} for flow {flow.flow_id}, whose entries add up to "
            f"{flow.computed_total_cents} cents",
            flow,
        )
    credit.status = "matched"
    outcome.reconciled += reconcile_flow(session, flow, cause=f"credit:{credit.id}", now=now)
    return None


def reconcile_flow(session: Session, flow: ReportingFlow, *, cause: str, now: dt.datetime) -> int:
    """Move every option reported by ``flow`` to reconciled; return how many moved. Options
    already reconciled (or never reported) are left where they are."""
    # option_id IS NOT NULL in the query, which SQLAlchemy's types cannot see
    option_ids = cast(
        "Sequence[int]",
        session.scalars(
            sa.select(ReportingEntry.option_id)
            .distinct()
            .where(
                ReportingEntry.flow_pk == flow.id,
                ReportingEntry.option_id.is_not(None),
                ReportingEntry.match.in_(("matched", "amount_mismatch")),
            )
        ).all(),
    )
    moved = 0
    for option_id in sorted(option_ids):  # a fixed lock order
        option = payments.lock_option_by_id(session, option_id)
        if option.status == OptionStatus.REPORTED:
            payments.apply_event(session, option, "reconcile", cause=cause, now=now)
            moved += 1
    flow.status, flow.reconciled_at = "reconciled", now  # the flow's, not a payment state
    log.info("fdr.reconciled", flow_id=flow.flow_id, options=moved)
    return moved


def credits_waiting_for(
    session: Session, flow: ReportingFlow, *, now: dt.datetime | None = None
) -> StatementOutcome:
    """A flow has just been stored: match the credits that named it before it arrived (or
    matched an older version of it). Their ``credit_unknown_flow`` anomalies are resolved."""
    now = now or utcnow()
    outcome = StatementOutcome()
    credits = session.scalars(
        sa.select(BankCredit)
        .where(
            BankCredit.ente_id == flow.ente_id,
            BankCredit.flow_id == flow.flow_id,
            sa.or_(BankCredit.flow_pk.is_(None), BankCredit.flow_pk != flow.id),
        )
        .order_by(BankCredit.id)
    ).all()
    for credit in credits:
        session.execute(
            sa.update(Anomaly)
            .where(
                Anomaly.credit_pk == credit.id,
                Anomaly.kind == "credit_unknown_flow",
                Anomaly.resolved_at.is_(None),
            )
            .values(resolved_at=now, resolution_note=f"flow {flow.flow_id} received")
        )
        credit.status, credit.flow_pk = "unmatched", None
        session.flush()
        _match_credit(session, credit, outcome, now)
    return outcome


def flows_without_credit(
    session: Session, *, days: int = DEFAULT_CREDIT_DAYS, now: dt.datetime | None = None
) -> int:
    """Open a ``flow_without_credit`` anomaly for every current flow received more than
    ``days`` days ago that no bank credit names; once per flow. Returns how many opened."""
    now = now or utcnow()
    credited = sa.select(BankCredit.id).where(BankCredit.flow_pk == ReportingFlow.id)
    flagged = sa.select(Anomaly.id).where(
        Anomaly.flow_pk == ReportingFlow.id, Anomaly.kind == "flow_without_credit"
    )
    flows = session.scalars(
        sa.select(ReportingFlow)
        .where(
            ReportingFlow.status.in_(OPEN_FLOW_STATES),
            ReportingFlow.received_at < now - dt.timedelta(days=days),
            ~sa.exists(credited),
            ~sa.exists(flagged),
        )
        .order_by(ReportingFlow.id)
    ).all()
    for flow in flows:
        open_anomaly(
            session,
            "flow_without_credit",
            f"flow {flow.flow_id} ({flow.computed_total_cents} cents, settlement "
            f"{flow.settlement_id}) has no bank credit after {days} days",
            ente_id=flow.ente_id,
            flow_pk=flow.id,
        )
    if flows:
        log.warning("fdr.flows_without_credit", count=len(flows))
    return len(flows)


def open_anomaly(
    session: Session,
    kind: str,
    detail: str,
    *,
    ente_id: int | None,
    option_id: int | None = None,
    receipt_pk: int | None = None,
    flow_pk: int | None = None,
    credit_pk: int | None = None,
) -> Anomaly:
    """Open an anomaly for support (no personal data in ``detail``)."""
    anomaly = Anomaly(
        kind=kind,
        ente_id=ente_id,
        option_id=option_id,
        receipt_pk=receipt_pk,
        flow_pk=flow_pk,
        credit_pk=credit_pk,
        detail=detail[:500],
    )
    session.add(anomaly)
    log.warning(
        "reconciliation.anomaly",
        kind=kind,
        flow_pk=flow_pk,
        credit_pk=credit_pk,
        option_id=option_id,
    )
    return anomaly
