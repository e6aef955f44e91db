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
import functools
import hashlib
import io
import itertools
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, BinaryIO, cast

import psycopg
import sqlalchemy as sa
import structlog
from lxml import etree
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from hub import payments
from hub.db import utcnow
from hub.errors import DomainError
from hub.models import Anomaly, BankCredit, Ente, PaymentOption, ReportingEntry, ReportingFlow
from hub.payments.setbased import among
from hub.payments.setbased import held as _held
from hub.reconciliation.ahead import ahead
from hub.values import anomaly_details
from hub.xmlsafe import STREAM_CHUNK, iter_untrusted
from workflows.payment import OptionStatus

log = structlog.get_logger(__name__)

FLOW_REFERENCE = re.compile(r"/PUR/LGPE-RIVERSAMENTO/URI/([a-zA-Z0-9\-_]{1,35})", re.IGNORECASE)
CAMT053 = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"
CSV_COLUMNS = ("booking_date", "value_date", "amount", "currency", "credit_debit", "description")
OPEN_FLOW_STATES = ("received", "anomalous")
DEFAULT_CREDIT_DAYS = 3
CHUNK = 5000  # statement lines, options locked, ids per array parameter, at a time
RELAY_LIMIT = 500  # more changes than this: their messages are left to the outbox sweeper
MAX_STATEMENT_BYTES = 1 << 30  # read as it comes: the limit is the upload's, not memory's


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

    @functools.cached_property
    def flow_id(self) -> str | None:
        found = FLOW_REFERENCE.search(self.description)
        return found.group(1) if found else None


@dataclass
class StatementOutcome:
    added: list[int] = field(default_factory=list)  # ids of the credits stored
    matched: int = 0  # credits matched to a flow
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


Source = bytes | BinaryIO  # a statement's bytes, or a binary file open on it


def _chunks(source: Source) -> Iterator[bytes]:
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        for start in range(0, len(data), STREAM_CHUNK):
            yield data[start : start + STREAM_CHUNK]
        return
    while chunk := source.read(STREAM_CHUNK):
        yield chunk


def read_csv(data: Source) -> list[StatementLine]:
    """The credits (credit_debit C) of a CSV statement with a header row; debits are skipped."""
    return list(iter_csv(_chunks(data)))


def iter_csv(chunks: Iterable[bytes]) -> Iterator[StatementLine]:
    """``read_csv``, a line at a time."""
    text = io.TextIOWrapper(io.BufferedReader(_Reader(chunks)), encoding="utf-8-sig", newline="")
    try:
        reader = csv.DictReader(text)
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise InvalidStatement(f"the CSV statement has no column {', '.join(missing)}")
        for row in reader:
            n = reader.line_num
            if (row["credit_debit"] or "").strip().upper() != "C":
                continue
            if (row["currency"] or "EUR").strip().upper() != "EUR":
                raise InvalidStatement(f"line {n}: currency {row['currency']!r}, not EUR")
            yield StatementLine(
                line=n,
                value_date=_date(row["value_date"], n),
                booking_date=_date(row["booking_date"], n) if row["booking_date"] else None,
                amount_cents=_cents(row["amount"] or "", n),
                description=(row["description"] or "").strip(),
                reference=(row.get("reference") or "").strip() or None,
                counterparty=(row.get("counterparty") or "").strip() or None,
                iban=(row.get("iban") or "").strip() or None,
            )
    except UnicodeDecodeError:
        raise InvalidStatement("the CSV statement is not UTF-8") from None


class _Reader(io.RawIOBase):
    """Chunks of bytes as a readable binary stream (for TextIOWrapper)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._left = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._left:
            self._left = next(self._chunks, b"")
            if not self._left:
                return 0
        n = min(len(buffer), len(self._left))
        buffer[:n] = self._left[:n]
        self._left = self._left[n:]
        return n


def read_camt053(data: Source) -> list[StatementLine]:
    """The booked credit entries (CRDT, BOOK) of a camt.053.001.02, one line per entry (per
    transaction when an entry batches several). Parsed with the hardened parser."""
    return list(iter_camt053(_chunks(data)))


def iter_camt053(chunks: Iterable[bytes]) -> Iterator[StatementLine]:
    """``read_camt053`` an entry at a time: the document is read as it comes (hub.xmlsafe's
    streaming reader, the same rules as for a whole document), each entry dropped once read,
    so a statement of 100,000 credits is read in constant memory. Each entry is read in one
    pass over its children (``_Kids``), not by a path search per field."""
    stmt_tag, ntry_tag = _C["Stmt"], _C["Ntry"]
    iban: str | None = None
    n, checked = 0, False
    tags = (_C["Acct"], ntry_tag, "{*}Document")
    for element in iter_untrusted(chunks, tags, limit=MAX_STATEMENT_BYTES):
        if not checked:  # the root, once: the first element read is in it
            root = element.getroottree().getroot()
            if root.tag != _C["Document"]:
                raise InvalidStatement(f"not a camt.053.001.02 Document: {root.tag}")
            checked = True
        parent = element.getparent()
        if parent is None or parent.tag != stmt_tag:
            continue
        if element.tag != ntry_tag:  # the Stmt's account, before its entries
            iban, n = _Kids(element).kids("Id").text("IBAN"), 0
            continue
        n += 1
        entry = _Kids(element)
        if entry.text("CdtDbtInd") != "CRDT" or (entry.text("Sts") or "BOOK") != "BOOK":
            continue
        value = entry.kids("ValDt")
        value_date = value.text("Dt") or value.text("DtTm")
        booking = entry.kids("BookgDt").text("Dt")
        details: list[_Kids | None] = [
            _Kids(tx) for dtls in entry.all("NtryDtls") for tx in _Kids(dtls).all("TxDtls")
        ]
        for tx in details or [None]:
            yield _camt_line(entry, tx, n, value_date, booking, iban, batched=len(details) > 1)


class _Kids:
    """An element's children by tag (the first of each, as ``findtext`` reads them, and all
    of each, as ``findall``), read in one pass."""

    __slots__ = ("_all", "_first")

    def __init__(self, element: etree._Element | None) -> None:
        self._first: dict[Any, etree._Element] = {}
        self._all: dict[Any, list[etree._Element]] = {}
        if element is not None:
            for child in element:
                self._first.setdefault(child.tag, child)
                self._all.setdefault(child.tag, []).append(child)

    def element(self, name: str) -> etree._Element | None:
        return self._first.get(_C[name])

    def text(self, name: str) -> str | None:
        """The first child's text ("" for an empty one), None without one: ``findtext``."""
        child = self._first.get(_C[name])
        return None if child is None else child.text or ""

    def kids(self, name: str) -> _Kids:
        return _Kids(self._first.get(_C[name]))

    def all(self, name: str) -> list[etree._Element]:
        return self._all.get(_C[name], [])


def _camt_line(
    entry: _Kids,
    tx: _Kids | None,
    n: int,
    value_date: str | None,
    booking: str | None,
    iban: str | None,
    *,
    batched: bool,
) -> StatementLine:
    amount = entry.text("Amt")
    if batched and tx is not None:
        amount = tx.kids("AmtDtls").kids("TxAmt").text("Amt") or tx.text("Amt")
    currency = entry.element("Amt")
    if currency is not None and currency.get("Ccy", "EUR") != "EUR":
        raise InvalidStatement(f"entry {n}: currency {currency.get('Ccy')!r}, not EUR")
    ustrd = tx.kids("RmtInf").all("Ustrd") if tx is not None else []
    reference = (tx.kids("Refs").text("AcctSvcrRef") if tx is not None else None) or entry.text(
        "AcctSvcrRef"
    )
    debtor = tx.kids("RltdPties").kids("Dbtr").text("Nm") if tx is not None else None
    return StatementLine(
        line=n,
        value_date=_date(value_date or booking, n),
        booking_date=_date(booking, n) if booking else None,
        amount_cents=_cents(amount or "", n),
        description="".join((u.text or "") for u in ustrd).strip()
        or (entry.text("AddtlNtryInf") or "").strip(),
        reference=reference,
        counterparty=debtor,
        iban=iban,
    )


class _Clark(dict):  # type: ignore[type-arg]
    """camt.053's element names in Clark notation (``{camt.053}Ntry``), made once each."""

    def __missing__(self, name: str) -> str:
        self[name] = f"{{{CAMT053}}}{name}"
        return self[name]


_C = _Clark()


def read_statement(data: Source) -> list[StatementLine]:
    """A camt.053 (XML) or a CSV statement, told apart by the first character."""
    return list(iter_statement(data))


def iter_statement(data: Source) -> Iterator[StatementLine]:
    """``read_statement`` a line at a time, in constant memory (``data``: bytes or a binary
    file open on them)."""
    chunks = _chunks(data)
    first = next(chunks, b"")
    rest = itertools.chain([first], chunks)
    if first.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return iter_camt053(rest)
    return iter_csv(rest)


# --- storing and matching --------------------------------------------------------------------


class _Fingerprints:
    """A credit's fingerprint, line by line: its bank reference, or (for a line without one)
    its content and its occurrence in the file, so identical lines in one file are distinct
    credits. Keeps only a digest and a count per distinct line without a reference."""

    def __init__(self) -> None:
        self.seen: Counter[bytes] = Counter()

    def __call__(self, s: StatementLine) -> str:
        if s.reference:
            key = f"ref|{s.reference}|{s.value_date}|{s.amount_cents}"
        else:
            base = f"line|{s.value_date}|{s.amount_cents}|{s.description}|{s.iban}"
            digest = hashlib.sha256(base.encode()).digest()
            self.seen[digest] += 1
            key = f"{base}|{self.seen[digest]}"
        return hashlib.sha256(key.encode()).hexdigest()


def _fingerprints(lines: list[StatementLine]) -> list[str]:
    fingerprint = _Fingerprints()
    return [fingerprint(s) for s in lines]


def load_statement(
    session: Session,
    ente: Ente,
    data: Source,
    *,
    source_file: str,
    now: dt.datetime | None = None,
) -> StatementOutcome:
    """Store the credits of a statement for ``ente`` and match them, in the caller's
    transaction. A credit already stored (same fingerprint) is counted as a duplicate and
    changes nothing, so loading a statement twice adds nothing. Raises InvalidStatement
    (nothing written) for a file we cannot read, UnsafeXml for a hostile XML one.

    Set-based and in constant memory (``data``: bytes or a binary file): the lines are read
    as they come and taken ``CHUNK`` at a time, the next chunk read while one is written
    (``ahead``); per chunk, the fingerprints already stored
    and the flows named are read with one query each, the credits written with one insert,
    their anomalies with another, and the flows they match reconciled together
    (``reconcile_flows``). The same decisions, in the same order, as matching each credit
    on its own (``_match_credit``)."""
    now = now or utcnow()
    outcome = StatementOutcome()
    fingerprint = _Fingerprints()
    savepoint = session.begin_nested()  # a line we cannot read undoes the chunks before it
    try:
        # the next chunk read while this one is written (never more in hand)
        for chunk in ahead(_line_chunks(iter_statement(data), fingerprint), name="statement"):
            _load_chunk(session, ente, chunk, source_file, outcome, now)
    except BaseException:
        savepoint.rollback()
        session.expire_all()  # options marked reconciled in memory: read again
        raise
    savepoint.commit()
    log.info(
        "statement.loaded",
        ente=ente.fiscal_code,
        added=len(outcome.added),
        duplicates=outcome.duplicates,
        reconciled=outcome.reconciled,
        anomalies=len(outcome.anomalies),
    )
    return outcome


def _line_chunks(
    lines: Iterable[StatementLine], fingerprint: _Fingerprints
) -> Iterator[list[tuple[StatementLine, str]]]:
    """The lines with their fingerprints, ``CHUNK`` at a time (the last may be empty)."""
    chunk: list[tuple[StatementLine, str]] = []
    for line in lines:
        chunk.append((line, fingerprint(line)))
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    yield chunk


@dataclass(frozen=True)
class _Flow:
    """What matching a credit reads of a flow."""

    id: int
    flow_id: str
    computed_total_cents: int


def _latest_flows(session: Session, ente_id: int, flow_ids: set[str]) -> dict[str, _Flow]:
    """``latest_flow`` for each of ``flow_ids``, with one query."""
    if not flow_ids:
        return {}
    rows = session.execute(
        sa.select(
            ReportingFlow.id,
            ReportingFlow.flow_id,
            ReportingFlow.computed_total_cents,
        )
        .where(ReportingFlow.ente_id == ente_id, among(session, ReportingFlow.flow_id, flow_ids))
        .order_by(*_LATEST)
    )
    found: dict[str, _Flow] = {}
    for row in rows:  # newest first: the first of each flow id is the one
        found.setdefault(row.flow_id, _Flow(row.id, row.flow_id, row.computed_total_cents))
    return found


def _load_chunk(
    session: Session,
    ente: Ente,
    chunk: list[tuple[StatementLine, str]],
    source_file: str,
    outcome: StatementOutcome,
    now: dt.datetime,
) -> None:
    if not chunk:
        return
    session.flush()
    stored = set(
        session.scalars(
            sa.select(BankCredit.fingerprint).where(
                BankCredit.ente_id == ente.id,
                among(session, BankCredit.fingerprint, {f for _, f in chunk}),
            )
        )
    )
    latest = _latest_flows(session, ente.id, {s.flow_id for s, _ in chunk if s.flow_id})
    credited: set[int] = set(
        session.scalars(
            sa.select(sa.func.coalesce(BankCredit.flow_pk, 0)).where(
                among(session, BankCredit.flow_pk, {f.id for f in latest.values()}),
                BankCredit.status == "matched",
            )
        )
    )
    rows: list[dict[str, Any]] = []
    verdicts: list[tuple[str | None, str, _Flow | None]] = []  # anomaly kind, detail, flow
    for line, fp in chunk:
        if fp in stored:
            outcome.duplicates += 1
            continue
        stored.add(fp)
        flow = latest.get(line.flow_id) if line.flow_id else None
        status, kind, detail = _verdict(line, flow, credited)
        if status == "matched" and flow is not None:
            credited.add(flow.id)
        rows.append(
            {
                "ente_id": ente.id,
                "fingerprint": fp,
                "value_date": line.value_date,
                "booking_date": line.booking_date,
                "amount_cents": line.amount_cents,
                "description": line.description[:500],
                "reference": (line.reference or None) and line.reference[:64],
                "counterparty": (line.counterparty or None) and line.counterparty[:140],
                "iban": line.iban,
                "flow_id": line.flow_id,
                "flow_pk": flow.id if flow is not None else None,
                "source_file": source_file[-255:],
                "source_line": line.line,
                "status": status,
                "received_at": now,
            }
        )
        verdicts.append((kind, detail, flow))
    if not rows:
        return
    ids = _insert_credits(session, rows)
    anomalies = []
    reconcile: list[tuple[int, str]] = []
    for (kind, detail, flow), credit_id in zip(verdicts, ids, strict=True):
        if credit_id is None:  # loaded by a concurrent load since we looked
            outcome.duplicates += 1
            continue
        outcome.added.append(credit_id)
        if kind is not None:
            anomalies.append(
                {
                    "kind": kind,
                    "ente_id": ente.id,
                    "credit_pk": credit_id,
                    "flow_pk": flow.id if flow is not None else None,
                    "detail": detail[:500],
                }
            )
            outcome.anomalies.append(kind)
        elif flow is not None:
            outcome.matched += 1
            reconcile.append((flow.id, f"credit:{credit_id}"))
    if anomalies:
        session.execute(sa.insert(Anomaly), anomalies)
        log.warning("reconciliation.anomalies", kinds=dict(Counter(a["kind"] for a in anomalies)))
    outcome.reconciled += reconcile_flows(session, reconcile, now=now)


def _verdict(
    line: StatementLine, flow: _Flow | None, credited: set[int]
) -> tuple[str, str | None, str]:
    """``_match_credit``'s decision for a credit: (status, anomaly kind or None, detail)."""
    what = {"amount_cents": line.amount_cents, "value_on": str(line.value_date)}
    if line.flow_id is None:
        detail = anomaly_details.detail(
            "credit_without_flow_id", **what, description=line.description[:200]
        )
        return "no_flow_id", "credit_without_flow_id", detail
    if flow is None:
        detail = anomaly_details.detail("credit_unknown_flow", **what, flow=line.flow_id)
        return "unknown_flow", "credit_unknown_flow", detail
    if flow.id in credited:
        detail = anomaly_details.detail("credit_duplicate", **what, flow=flow.flow_id)
        return "duplicate", "credit_duplicate", detail
    if line.amount_cents != flow.computed_total_cents:
        detail = anomaly_details.detail(
            "credit_amount_mismatch",
            **what,
            flow=flow.flow_id,
            total_cents=flow.computed_total_cents,
        )
        return "amount_mismatch", "credit_amount_mismatch", detail
    return "matched", None, ""


def _insert_credits(session: Session, rows: list[dict[str, Any]]) -> list[int | None]:
    """Insert the credits, in order; their ids, None for one a concurrent load stored first.
    On PostgreSQL: one COPY into a temporary table, then one INSERT ... SELECT ... ON
    CONFLICT DO NOTHING RETURNING (no parameter at all, whatever the chunk's size)."""
    if session.get_bind().dialect.name != "postgresql":
        return _insert_credits_one_by_one(session, rows)
    session.flush()
    driver = cast(psycopg.Connection[Any], session.connection().connection.driver_connection)
    names = ", ".join(_CREDIT_COLUMNS)
    with driver.cursor() as cursor:
        cursor.execute(_STAGE)
        cursor.execute("TRUNCATE bank_credit_stage")
        with cursor.copy(f"COPY bank_credit_stage (seq, {names}) FROM STDIN") as copy:
            for seq, row in enumerate(rows):
                values = [row[c] for c in _CREDIT_COLUMNS]
                values[-1] = values[-1].astimezone(dt.UTC).replace(tzinfo=None)  # received_at
                copy.write_row((seq, *values))
        cursor.execute(
            f"INSERT INTO bank_credit ({names}) SELECT {names} FROM bank_credit_stage "
            "ORDER BY seq ON CONFLICT (ente_id, fingerprint) DO NOTHING "
            "RETURNING id, fingerprint"
        )
        ids = {fp: credit_id for credit_id, fp in cursor.fetchall()}
    return [ids.get(row["fingerprint"]) for row in rows]


def _insert_credits_one_by_one(session: Session, rows: list[dict[str, Any]]) -> list[int | None]:
    """Elsewhere than PostgreSQL (SQLite in some tests): one INSERT per credit."""
    from sqlalchemy.dialects.sqlite import insert

    table = cast(sa.Table, BankCredit.__table__)
    query = (
        insert(table)
        .on_conflict_do_nothing(index_elements=["ente_id", "fingerprint"])
        .returning(table.c.id)
    )
    connection = session.connection()
    return [connection.execute(query, row).scalar() for row in rows]


_CREDIT_COLUMNS = (
    "ente_id",
    "fingerprint",
    "value_date",
    "booking_date",
    "amount_cents",
    "description",
    "reference",
    "counterparty",
    "iban",
    "flow_id",
    "flow_pk",
    "source_file",
    "source_line",
    "status",
    "received_at",
)
# a chunk's credits on their way in (dropped at the end of the transaction)
_STAGE = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS bank_credit_stage (seq integer, ente_id integer, "
    "fingerprint varchar(64), value_date date, booking_date date, amount_cents bigint, "
    "description varchar(500), reference varchar(64), counterparty varchar(140), "
    "iban varchar(35), flow_id varchar(35), flow_pk integer, source_file varchar(255), "
    "source_line integer, status varchar(16), received_at timestamp) ON COMMIT DROP"
)


# the newest version of a flow: by dataOraFlusso, then the last stored (an FdR 3 revision)
_LATEST = (ReportingFlow.flow_datetime.desc(), ReportingFlow.id.desc())


def latest_flow(session: Session, ente_id: int, flow_id: str) -> ReportingFlow | None:
    return session.scalars(
        sa.select(ReportingFlow)
        .where(ReportingFlow.ente_id == ente_id, ReportingFlow.flow_id == flow_id)
        .order_by(*_LATEST)
        .limit(1)
    ).one_or_none()


def _match_credit(
    session: Session, credit: BankCredit, outcome: StatementOutcome, now: dt.datetime
) -> None:
    what = {"amount_cents": credit.amount_cents, "value_on": str(credit.value_date)}

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
            anomaly_details.detail(
                "credit_without_flow_id", **what, description=credit.description[:200]
            ),
        )
    flow = latest_flow(session, credit.ente_id, credit.flow_id)
    if flow is None:
        return flag(
            "credit_unknown_flow",
            "unknown_flow",
            anomaly_details.detail("credit_unknown_flow", **what, flow=credit.flow_id),
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
            anomaly_details.detail("credit_duplicate", **what, flow=flow.flow_id),
            flow,
        )
    if credit.amount_cents != flow.computed_total_cents:
        return flag(
            "credit_amount_mismatch",
            "amount_mismatch",
            anomaly_details.detail(
                "credit_amount_mismatch",
                **what,
                flow=flow.flow_id,
                total_cents=flow.computed_total_cents,
            ),
            flow,
        )
    credit.status = "matched"
    outcome.reconciled += reconcile_flow(session, flow, cause=f"credit:{credit.id}", now=now)
    return None


def reconcile_flow(session: Session, flow: ReportingFlow, *, cause: str, now: dt.datetime) -> int:
    """Move every option reported by ``flow`` to reconciled; return how many moved. Options
    already reconciled (or never reported) are left where they are."""
    moved = reconcile_flows(session, [(flow.id, cause)], now=now)
    set_committed_value(flow, "status", "reconciled")  # not a payment state: the flow's
    set_committed_value(flow, "reconciled_at", now)
    log.info("fdr.reconciled", flow_id=flow.flow_id, options=moved)
    return moved


def reconcile_flows(
    session: Session, credited: Sequence[tuple[int, str]], *, now: dt.datetime
) -> int:
    """``reconcile_flow`` for many flows at once, set-based: for each (flow pk, cause) in
    order, every option the flow reported and that is still ``reported`` moves to
    ``reconciled`` (the machine asked once, ``payments.next_states``), history cause
    ``cause``. The options are locked and moved by one UPDATE per ``CHUNK``, in id order
    (the lock is the UPDATE's: an option another writer moved first is left); history rows
    and follow-up messages are written in bulk (``payments.record_transitions``). Returns
    how many options moved."""
    if not credited:
        return 0
    session.flush()
    flow_pks = sorted({pk for pk, _ in credited})
    credited_pks = set(flow_pks)
    options: dict[int, list[int]] = {}
    for start in range(0, len(flow_pks), CHUNK):
        for flow_pk, option_id in session.connection().execute(
            sa.select(ReportingEntry.flow_pk, ReportingEntry.option_id)
            .distinct()
            .where(
                among(session, ReportingEntry.flow_pk, flow_pks[start : start + CHUNK]),
                ReportingEntry.option_id.is_not(None),
                ReportingEntry.match.in_(("matched", "amount_mismatch")),
            )
        ):
            if option_id is not None:
                options.setdefault(flow_pk, []).append(option_id)
    every = sorted({o for ids in options.values() for o in ids})
    target = payments.next_states("reconcile", [OptionStatus.REPORTED], now)[OptionStatus.REPORTED]
    held_options = _held(session, PaymentOption)
    moved: set[int] = set()
    # locked and moved by one UPDATE per chunk, in id order (two writers never deadlock): the
    # lock is the update's own, no SELECT ... FOR UPDATE before it writes each row again
    for start in range(0, len(every), CHUNK):
        for option_id, version in session.connection().execute(
            sa.update(PaymentOption)
            .where(
                among(session, PaymentOption.id, every[start : start + CHUNK]),
                PaymentOption.status == OptionStatus.REPORTED,
            )
            .values(status=target, version=PaymentOption.version + 1)
            .returning(PaymentOption.id, PaymentOption.version)
        ):
            moved.add(option_id)
            held = held_options.get(option_id)
            if held is not None:  # an option this session holds: as the lock refreshed it
                set_committed_value(held, "status", target)
                set_committed_value(held, "version", version)
    # each option moved once, by the first credited flow (in the order given) that reported it
    changes: list[payments.Change] = []
    causes: list[str] = []
    for flow_pk, cause in credited:
        for option_id in sorted(options.get(flow_pk, ())):
            if option_id in moved:
                moved.discard(option_id)
                changes.append((option_id, OptionStatus.REPORTED, target))
                causes.append(cause)
    for start in range(0, len(changes), CHUNK):
        payments.record_transitions(
            session,
            changes[start : start + CHUNK],
            "reconcile",
            cause=causes[start : start + CHUNK],
            now=now,
            relay=len(changes) <= RELAY_LIMIT,
        )
    for start in range(0, len(flow_pks), CHUNK):
        part = flow_pks[start : start + CHUNK]
        session.execute(
            sa.update(ReportingFlow)
            .where(among(session, ReportingFlow.id, part))
            .values(status="reconciled", reconciled_at=now)  # not a payment state: the flow's
            .execution_options(synchronize_session=False)
        )
    for flow_pk, held_flow in _held(session, ReportingFlow).items():
        if flow_pk in credited_pks:
            # the flow's status, not a payment state
            flow_state = "reconciled"  # not a payment state
            set_committed_value(held_flow, "status", flow_state)
            set_committed_value(held_flow, "reconciled_at", now)
    return len(changes)


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
            anomaly_details.detail(
                "flow_without_credit",
                flow=flow.flow_id,
                total_cents=flow.computed_total_cents,
                settlement=flow.settlement_id,
                days=days,
            ),
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
