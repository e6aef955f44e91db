"""Reporting flows (FdR): read a FlussoRiversamento strictly, store it once, match it to receipts.

``store_flow`` parses the flow (hardened parser, the official XSD when configured, and our own
strict reading of every field), stores it with its entries, and matches each entry to the
receipt of the same Ente with that IUV and IUR (= receiptId). A matched ``paid`` option is
moved to ``reported`` through hub.payments (row lock, history, outbox); an option already
reported or reconciled is left alone. What does not fit opens an Anomaly.

Outcome codes (codiceEsitoSingoloPagamento, SACI table 6; 4 and 8 from FlussoRiversamento
1.0.5): 0 paid, 4 paid in Stand-In: matched to the receipt and reported. 9 paid without RPT,
8 the same in Stand-In: reported if we hold a receipt for it, otherwise flagged
``fdr_paid_without_rpt`` (money collected for a payment we were never told about). 3 revoked:
the PSP gave the money back; nothing moves, support is told (``fdr_payment_revoked``).

Versions: a flow is unique per (Ente, flow id, dataOraFlusso). The Node may re-send a flow id
with a newer date-time: that is a new version, stored and matched; older versions become
``superseded`` and a version older than one already stored is kept, superseded, unmatched.

FdR 3 (``store_fdr3_flow``): a flow fetched as JSON from FdR 3's organization API is read as
strictly into the same ParsedFlow and stored through the same path, with ``source='fdr3'``;
it is unique per (Ente, flow id, PSP, revision), and a newer revision supersedes the older ones
as a newer dataOraFlusso does. ``payStatus`` maps to the outcome codes above: EXECUTED -> 0,
STAND_IN -> 4, STAND_IN_NO_RPT -> 8, NO_RPT -> 9 (FdR 3 has no "revoked").

Every entry left without a receipt (``no_receipt``, ``without_rpt``) is also registered for
receipt recovery (``receipt_recovery``, hub.reconciliation.recovery); ``rematch_entries``
matches those entries again once the receipt is recovered.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import psycopg
import sqlalchemy as sa
import structlog
from lxml import etree
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from hub import clock, payments
from hub.config import Config, as_config
from hub.db import utcnow
from hub.errors import DomainError
from hub.models import (
    Anomaly,
    Ente,
    PaymentOption,
    Receipt,
    ReceiptRecovery,
    ReportingEntry,
    ReportingFlow,
    ReportingFlowPage,
    Station,
    Transfer,
)
from hub.payments.setbased import among
from hub.reconciliation import statements
from hub.reconciliation.ahead import ahead
from hub.values import anomaly_details
from hub.xmlsafe import UnsafeXml, parse_untrusted
from workflows.payment import PAID_STATES, OptionStatus

log = structlog.get_logger(__name__)

FDR = "http://www.digitpa.gov.it/schemas/2011/Pagamenti/"
PAID_CODES = frozenset({"0", "4"})
WITHOUT_RPT_CODES = frozenset({"8", "9"})
REVOKED_CODE = "3"
OUTCOME_CODES = PAID_CODES | WITHOUT_RPT_CODES | {REVOKED_CODE}
# FdR 3's payStatus -> FlussoRiversamento's codiceEsitoSingoloPagamento
PAY_STATUS_CODES = {"EXECUTED": "0", "STAND_IN": "4", "STAND_IN_NO_RPT": "8", "NO_RPT": "9"}
WANTS_RECEIPT = ("no_receipt", "without_rpt")
_SHARED_XSD = Path(__file__).resolve().parents[3] / "shared" / "pagopa" / "xsd-common"
DEFAULT_XSD = tuple(_SHARED_XSD / f"FlussoRiversamento_1_0_{n}.xsd" for n in (4, 5))
_AMOUNT = re.compile(r"\d{1,9}\.\d{2}")
_FLOW_ID = re.compile(r"[a-zA-Z0-9\-_]{1,35}")


class InvalidFlow(DomainError):
    """Not a FlussoRiversamento we can read: unsafe XML, against the XSD, or a bad field."""

    code = "invalid_flow"


class FlowRefused(DomainError):
    """The flow's receiving Ente is unknown here, or not served by the asking station."""

    code = "flow_refused"


@dataclass(frozen=True, slots=True)
class ParsedEntry:
    iuv: str
    iur: str
    index: int | None
    amount_cents: int
    outcome_code: str
    outcome_date: dt.date
    pay_status: str | None = None  # FdR 3


@dataclass(frozen=True)
class ParsedFlow:
    flow_id: str
    flow_datetime: dt.datetime  # naive: as written, or converted to UTC if it had an offset
    settlement_id: str
    settlement_date: dt.date
    psp_id: str
    psp_name: str | None
    bic: str | None
    ec_fiscal_code: str
    declared_count: int
    declared_total_cents: int
    entries: tuple[ParsedEntry, ...]
    revision: int | None = None  # FdR 3
    published_at: dt.datetime | None = None  # FdR 3, aware UTC


@dataclass
class FlowOutcome:
    flow: ReportingFlow
    created: bool
    anomalies: list[str] = field(default_factory=list)
    reported: int = 0


# --- reading ---------------------------------------------------------------------------------


@functools.cache
def _schema(path: str) -> etree.XMLSchema:
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
    return etree.XMLSchema(etree.parse(path, parser))


def schemas(paths: Iterable[str | Path]) -> tuple[etree.XMLSchema, ...]:
    """The official schemas at ``paths`` that exist (read once per process)."""
    return tuple(_schema(str(p)) for p in paths if Path(p).is_file())


def schemas_from_settings(settings: Config | Mapping[str, Any]) -> tuple[etree.XMLSchema, ...]:
    """``payhub.fdr_xsd``: space-separated paths of FlussoRiversamento XSDs (a flow valid
    against any one passes). Default: 1.0.4 and 1.0.5 from ../shared/pagopa, if present;
    with none, flows are still read strictly field by field."""
    return schemas(as_config(settings).fdr_xsd or DEFAULT_XSD)


def normalise_datetime(value: dt.datetime) -> dt.datetime:
    """The one way flow date-times are compared: naive as written, or UTC if an offset."""
    return value if value.tzinfo is None else value.astimezone(dt.UTC).replace(tzinfo=None)


def _bad(message: str) -> InvalidFlow:
    return InvalidFlow(message)


def _text(parent: etree._Element, path: str, *, required: bool = True) -> str | None:
    found = parent.findall(path, {"p": FDR})
    if len(found) > 1:
        raise _bad(f"{path} repeated")
    text = (found[0].text or "").strip() if found else ""
    if required and not text:
        raise _bad(f"{path.replace('p:', '')} is missing")
    return text or None


def _cents(value: str | None, what: str, *, allow_zero: bool = False) -> int:
    if value is None or not _AMOUNT.fullmatch(value):
        raise _bad(f"{what} {value!r} is not an amount like 10.00")
    cents = int(Decimal(value) * 100)
    if cents == 0 and not allow_zero:
        raise _bad(f"{what} must be greater than zero")
    return cents


def _date(value: str | None, what: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value or "")
    except ValueError:
        raise _bad(f"{what} {value!r} is not a date") from None


def parse_flow(data: bytes, xsd: Sequence[etree.XMLSchema] = ()) -> ParsedFlow:
    """Read a FlussoRiversamento document. Raises InvalidFlow for unsafe XML, a document
    valid against none of ``xsd`` (when given), or any field we cannot read strictly."""
    try:
        root = parse_untrusted(data)
    except UnsafeXml as exc:
        raise _bad(str(exc)) from None
    if root.tag != f"{{{FDR}}}FlussoRiversamento":
        raise _bad(f"not a FlussoRiversamento: {root.tag}")
    if xsd and not any(schema.validate(root) for schema in xsd):
        error = xsd[0].error_log.last_error
        raise _bad(f"against the FlussoRiversamento XSD: {error.message if error else '?'}")
    flow_id = _text(root, "p:identificativoFlusso") or ""
    if not _FLOW_ID.fullmatch(flow_id):
        raise _bad(f"identificativoFlusso {flow_id!r} is not [a-zA-Z0-9-_]{{1,35}}")
    when = _text(root, "p:dataOraFlusso") or ""
    try:
        flow_datetime = normalise_datetime(dt.datetime.fromisoformat(when))
    except ValueError:
        raise _bad(f"dataOraFlusso {when!r} is not a date-time") from None
    count = _text(root, "p:numeroTotalePagamenti") or ""
    if not count.isdigit() or int(count) < 1:
        raise _bad(f"numeroTotalePagamenti {count!r} is not a positive integer")
    entries = tuple(_entry(item) for item in root.findall("p:datiSingoliPagamenti", {"p": FDR}))
    if not entries:
        raise _bad("no datiSingoliPagamenti")
    return ParsedFlow(
        flow_id=flow_id,
        flow_datetime=flow_datetime,
        settlement_id=_text(root, "p:identificativoUnivocoRegolamento") or "",
        settlement_date=_date(_text(root, "p:dataRegolamento"), "dataRegolamento"),
        psp_id=_text(
            root, "p:istitutoMittente/p:identificativoUnivocoMittente/p:codiceIdentificativoUnivoco"
        )
        or "",
        psp_name=_text(root, "p:istitutoMittente/p:denominazioneMittente", required=False),
        bic=_text(root, "p:codiceBicBancaDiRiversamento", required=False),
        ec_fiscal_code=_text(
            root,
            "p:istitutoRicevente/p:identificativoUnivocoRicevente/p:codiceIdentificativoUnivoco",
        )
        or "",
        declared_count=int(count),
        declared_total_cents=_cents(
            _text(root, "p:importoTotalePagamenti"), "importoTotalePagamenti", allow_zero=True
        ),
        entries=entries,
    )


def _entry(item: etree._Element) -> ParsedEntry:
    index = _text(item, "p:indiceDatiSingoloPagamento", required=False)
    if index is not None and not (index.isdigit() and 1 <= int(index) <= 5):
        raise _bad(f"indiceDatiSingoloPagamento {index!r} is not 1..5")
    code = _text(item, "p:codiceEsitoSingoloPagamento") or ""
    if code not in OUTCOME_CODES:
        raise _bad(f"codiceEsitoSingoloPagamento {code!r} is not one of 0, 3, 4, 8, 9")
    return ParsedEntry(
        iuv=_text(item, "p:identificativoUnivocoVersamento") or "",
        iur=_text(item, "p:identificativoUnivocoRiscossione") or "",
        index=int(index) if index is not None else None,
        amount_cents=_cents(_text(item, "p:singoloImportoPagato"), "singoloImportoPagato"),
        outcome_code=code,
        outcome_date=_date(_text(item, "p:dataEsitoSingoloPagamento"), "dataEsitoSingoloPagamento"),
    )


def _json_cents(value: Any, what: str, *, allow_zero: bool = False) -> int:
    if isinstance(value, str) and _AMOUNT.fullmatch(value):  # "12.34": most amounts, read fast
        cents = int(value[:-3]) * 100 + int(value[-2:])
        if cents == 0 and not allow_zero:
            raise _bad(f"{what} must be greater than zero")
        return cents
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise _bad(f"{what} {value!r} is not an amount")
    try:
        amount = Decimal(str(value))
    except ArithmeticError:
        raise _bad(f"{what} {value!r} is not an amount") from None
    if amount.as_tuple().exponent < -2 or amount < 0:  # type: ignore[operator]
        raise _bad(f"{what} {value!r} is not an amount with at most 2 decimals")
    cents = int(amount * 100)
    if cents == 0 and not allow_zero:
        raise _bad(f"{what} must be greater than zero")
    return cents


def _json_text(data: Mapping[str, Any], key: str, *, required: bool = True) -> str | None:
    value = data.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise _bad(f"{key} is missing")
        return None
    if not isinstance(value, str):
        raise _bad(f"{key} {value!r} is not a string")
    return value.strip()


def _json_instant(data: Mapping[str, Any], key: str) -> dt.datetime:
    text = _json_text(data, key) or ""
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _bad(f"{key} {text!r} is not a date-time") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def parse_fdr3(
    flow: Mapping[str, Any],
    flow_payments: Sequence[Mapping[str, Any]],
    *,
    revision: int,
    published_at: dt.datetime | None = None,
) -> ParsedFlow:
    """Read an FdR 3 SingleFlowResponse and its Payments as strictly as a FlussoRiversamento.
    Raises InvalidFlow for any field we cannot read."""
    header = fdr3_header(flow, revision=revision, published_at=published_at)
    entries = tuple(_fdr3_entry(p) for p in flow_payments)
    if not entries:
        raise _bad("no payments")
    return dataclasses.replace(header, entries=entries)


def fdr3_header(
    flow: Mapping[str, Any], *, revision: int, published_at: dt.datetime | None = None
) -> ParsedFlow:
    """An FdR 3 SingleFlowResponse read strictly, without its payments (``entries`` empty:
    they come page by page). Raises InvalidFlow."""
    if not isinstance(flow, Mapping):
        raise _bad("the flow is not a JSON object")
    flow_id = _json_text(flow, "fdr") or ""
    if not _FLOW_ID.fullmatch(flow_id):
        raise _bad(f"fdr {flow_id!r} is not [a-zA-Z0-9-_]{{1,35}}")
    if flow.get("revision") not in (None, revision):
        raise _bad(f"revision {flow.get('revision')!r} is not the revision asked, {revision}")
    sender = flow.get("sender") or {}
    receiver = flow.get("receiver") or {}
    if not isinstance(sender, Mapping) or not isinstance(receiver, Mapping):
        raise _bad("sender or receiver is not an object")
    count = flow.get("totPayments")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise _bad(f"totPayments {count!r} is not a positive integer")
    regulation_date = _json_text(flow, "regulationDate") or ""
    published = published_at
    if published is None and flow.get("published"):
        published = _json_instant(flow, "published").astimezone(dt.UTC)
    return ParsedFlow(
        flow_id=flow_id,
        flow_datetime=normalise_datetime(_json_instant(flow, "fdrDate")),
        settlement_id=_json_text(flow, "regulation") or "",
        settlement_date=_date(regulation_date, "regulationDate"),
        psp_id=_json_text(sender, "pspId") or "",
        psp_name=_json_text(sender, "pspName", required=False),
        bic=_json_text(flow, "bicCodePouringBank", required=False),
        ec_fiscal_code=_json_text(receiver, "organizationId") or "",
        declared_count=count,
        declared_total_cents=_json_cents(flow.get("sumPayments"), "sumPayments", allow_zero=True),
        entries=(),
        revision=revision,
        published_at=published,
    )


def _fdr3_entry(item: Mapping[str, Any]) -> ParsedEntry:
    if not isinstance(item, Mapping):
        raise _bad("a payment is not a JSON object")
    index = item.get("idTransfer")
    if isinstance(index, bool) or not isinstance(index, int) or not 1 <= index <= 5:
        raise _bad(f"idTransfer {index!r} is not 1..5")
    status = item.get("payStatus")
    if status not in PAY_STATUS_CODES:
        raise _bad(f"payStatus {status!r} is not one of {', '.join(PAY_STATUS_CODES)}")
    return ParsedEntry(
        iuv=_json_text(item, "iuv") or "",
        iur=_json_text(item, "iur") or "",
        index=index,
        amount_cents=_json_cents(item.get("pay"), "pay"),
        outcome_code=PAY_STATUS_CODES[status],
        outcome_date=_pay_day(_json_text(item, "payDate") or ""),
        pay_status=status,
    )


@functools.lru_cache(maxsize=4096)
def _pay_day(text: str) -> dt.date:
    """The Italian date of a payDate (a flow's payments share a few: read each once)."""
    return clock.business_date(_json_instant({"payDate": text}, "payDate"))


# --- storing and matching --------------------------------------------------------------------


def store_flow(
    session: Session,
    data: bytes,
    *,
    xsd: Sequence[etree.XMLSchema] = (),
    served_ente_ids: set[int] | None = None,
    now: dt.datetime | None = None,
) -> FlowOutcome:
    """Store the flow ``data`` and act on it, in the caller's transaction.

    Idempotent: a flow already stored (same Ente, flow id, date-time) is returned with
    ``created=False`` and nothing is written. Raises InvalidFlow (nothing written) for a
    document we cannot read, FlowRefused for an Ente unknown here or not in
    ``served_ente_ids``.
    """
    now = now or utcnow()
    parsed = parse_flow(data, xsd)
    entries = parsed.entries
    return _store_parsed(
        session,
        parsed,
        lambda flow: (entries[start : start + BATCH] for start in range(0, len(entries), BATCH)),
        served_ente_ids=served_ente_ids,
        now=now,
        raw_xml=_text_of(data),
    )


def store_fdr3_flow(
    session: Session,
    flow: Mapping[str, Any],
    flow_payments: Sequence[Mapping[str, Any]],
    *,
    revision: int,
    published_at: dt.datetime | None,
    served_ente_ids: set[int] | None = None,
    now: dt.datetime | None = None,
) -> FlowOutcome:
    """Store one FdR 3 flow revision (its SingleFlowResponse and every Payment of it), in the
    caller's transaction. Idempotent per (Ente, flow id, PSP, revision). Raises InvalidFlow or
    FlowRefused as ``store_flow`` does."""
    return store_fdr3_pages(
        session,
        flow,
        [flow_payments],
        revision=revision,
        published_at=published_at,
        served_ente_ids=served_ente_ids,
        now=now,
    )


def store_fdr3_pages(
    session: Session,
    flow: Mapping[str, Any],
    pages: Iterable[Sequence[Mapping[str, Any]]],
    *,
    revision: int,
    published_at: dt.datetime | None,
    served_ente_ids: set[int] | None = None,
    now: dt.datetime | None = None,
) -> FlowOutcome:
    """``store_fdr3_flow`` for payments that come page by page (as FdR 3 serves them), in
    constant memory: each page is read strictly, written as fetched (``reporting_flow_page``)
    and its entries stored and matched a batch at a time, the next page fetched and read
    meanwhile (``ahead``: at most two pages ahead);
    neither the flow's entries nor its JSON are ever held whole. ``pages`` is not read at all
    for a revision already stored. A page that cannot be read undoes what the earlier ones
    wrote (InvalidFlow, nothing stored)."""
    header = fdr3_header(flow, revision=revision, published_at=published_at)

    def read(page: Sequence[Mapping[str, Any]]) -> tuple[list[ParsedEntry], str]:
        return [_fdr3_entry(p) for p in page], json.dumps(list(page), default=str)

    def entries_of(stored: ReportingFlow) -> Iterator[Sequence[ParsedEntry]]:
        # the next page fetched and read while this one is written (never more in hand)
        for number, (entries, text) in enumerate(ahead(map(read, pages), name="fdr3-pages"), 1):
            if entries:
                session.execute(
                    sa.insert(ReportingFlowPage).values(
                        flow_pk=stored.id, page=number, payments_json=text
                    )
                )
            yield entries

    return _store_parsed(
        session,
        header,
        entries_of,
        served_ente_ids=served_ente_ids,
        now=now or utcnow(),
        raw_json=json.dumps({"flow": flow}, default=str),
    )


def _store_parsed(
    session: Session,
    parsed: ParsedFlow,
    entries_of: Callable[[ReportingFlow], Iterable[Sequence[ParsedEntry]]],
    *,
    served_ente_ids: set[int] | None,
    now: dt.datetime,
    raw_xml: str | None = None,
    raw_json: str | None = None,
) -> FlowOutcome:
    """Store the flow ``parsed`` describes (its entries from ``entries_of(flow)``, in
    batches, read only once the flow row exists) and match it."""
    ente = session.scalars(
        sa.select(Ente).where(Ente.fiscal_code == parsed.ec_fiscal_code)
    ).one_or_none()
    if ente is None or (served_ente_ids is not None and ente.id not in served_ente_ids):
        raise FlowRefused(
            f"flow {parsed.flow_id} is for EC {parsed.ec_fiscal_code}, not an Ente served here"
        )
    existing = _stored(session, ente.id, parsed)
    if existing is not None:
        return FlowOutcome(existing, created=False)
    flow = ReportingFlow(
        ente_id=ente.id,
        flow_id=parsed.flow_id,
        flow_datetime=parsed.flow_datetime,
        psp_id=parsed.psp_id,
        psp_name=parsed.psp_name,
        bic=parsed.bic,
        settlement_id=parsed.settlement_id,
        settlement_date=parsed.settlement_date,
        declared_count=parsed.declared_count,
        declared_total_cents=parsed.declared_total_cents,
        computed_count=0,  # counted as the entries come
        computed_total_cents=0,
        status="received",
        raw_xml=raw_xml,
        raw_json=raw_json,
        source="soap" if parsed.revision is None else "fdr3",
        revision=parsed.revision,
        published_at=parsed.published_at,
        received_at=now,
    )
    savepoint = session.begin_nested()  # the flow and all it leads to, or nothing
    try:
        session.add(flow)
        session.flush()
    except IntegrityError:  # a concurrent twin committed first
        savepoint.rollback()
        twin = _stored(session, ente.id, parsed)
        assert twin is not None
        return FlowOutcome(twin, created=False)
    try:
        outcome = _fill(session, ente, flow, entries_of(flow), now)
    except BaseException:
        savepoint.rollback()
        session.expire_all()  # options the matching marked reported in memory: read again
        raise
    savepoint.commit()
    return outcome


def _batches(
    entries_in: Iterable[Sequence[ParsedEntry]], counts: list[int]
) -> Iterator[tuple[list[ParsedEntry], bool]]:
    """The entries regrouped in batches of ``BATCH`` (the last may be shorter), each with
    whether it is the last; ``counts`` gets the number and total cents of those read."""
    buffer: list[ParsedEntry] = []
    for chunk in entries_in:
        for e in chunk:
            counts[0] += 1
            counts[1] += e.amount_cents
        buffer.extend(chunk)
        while len(buffer) > BATCH:  # the last batch is yielded after the input ends
            yield buffer[:BATCH], False
            buffer = buffer[BATCH:]
    yield buffer, True


def _fill(
    session: Session,
    ente: Ente,
    flow: ReportingFlow,
    entries_in: Iterable[Sequence[ParsedEntry]],
    now: dt.datetime,
) -> FlowOutcome:
    outcome = FlowOutcome(flow, created=True)
    counts = [0, 0]  # entries, cents
    superseded = _newer_version_exists(session, flow)
    if not superseded:
        _supersede_older(session, flow)
    relay: bool | None = None
    for batch, last in _batches(entries_in, counts):
        if superseded:
            _insert_entries(session, [_entry_values(flow, e, "superseded") for e in batch])
            continue
        if relay is None:  # a flow small enough to fit its first batch: relayed as receipts are
            relay = last and len(batch) <= RELAY_LIMIT
        if batch:
            before = _last_entry_id(session)  # the batch's entries come after it
            if _match_batch(session, ente, flow, batch, outcome, now, relay=relay):
                _want_receipts(session, flow, now, before)
    if counts[0] == 0:
        raise _bad("no payments" if flow.revision is not None else "no datiSingoliPagamenti")
    flow.computed_count, flow.computed_total_cents = counts
    session.expire(flow, ["entries"])
    if superseded:
        flow.status = "superseded"
        session.flush()
        log.info("fdr.stored_superseded", ente=ente.fiscal_code, flow_id=flow.flow_id)
        return outcome
    if (flow.declared_count, flow.declared_total_cents) != (
        flow.computed_count,
        flow.computed_total_cents,
    ):
        _flag(
            session,
            outcome,
            "fdr_totals_mismatch",
            anomaly_details.detail(
                "fdr_totals_mismatch",
                flow=flow.flow_id,
                declared_count=flow.declared_count,
                declared_cents=flow.declared_total_cents,
                computed_count=flow.computed_count,
                computed_cents=flow.computed_total_cents,
            ),
        )
    flow.status = "anomalous" if outcome.anomalies else "received"
    session.flush()
    statements.credits_waiting_for(session, flow, now=now)
    log.info(
        "fdr.stored",
        ente=ente.fiscal_code,
        flow_id=flow.flow_id,
        entries=flow.computed_count,
        reported=outcome.reported,
        anomalies=len(outcome.anomalies),
        status=flow.status,
    )
    return outcome


def _text_of(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:  # an ISO-8859-1 flow: Latin-1 keeps every byte as it came
        return data.decode("latin-1")


def _stored(session: Session, ente_id: int, parsed: ParsedFlow) -> ReportingFlow | None:
    where = [ReportingFlow.ente_id == ente_id, ReportingFlow.flow_id == parsed.flow_id]
    if parsed.revision is None:
        where += [
            ReportingFlow.revision.is_(None),
            ReportingFlow.flow_datetime == parsed.flow_datetime,
        ]
    else:
        where += [ReportingFlow.psp_id == parsed.psp_id, ReportingFlow.revision == parsed.revision]
    return session.scalars(sa.select(ReportingFlow).where(*where)).one_or_none()


def _versions(flow: ReportingFlow, newer: bool) -> list[Any]:
    """The other versions of ``flow``: by dataOraFlusso (SOAP), by revision (FdR 3, per PSP)."""
    where = [ReportingFlow.ente_id == flow.ente_id, ReportingFlow.flow_id == flow.flow_id]
    if flow.revision is None:
        when = ReportingFlow.flow_datetime
        where += [
            ReportingFlow.revision.is_(None),
            when > flow.flow_datetime if newer else when < flow.flow_datetime,
        ]
    else:
        rev = ReportingFlow.revision
        where += [
            ReportingFlow.psp_id == flow.psp_id,
            rev > flow.revision if newer else rev < flow.revision,
        ]
    return where


def _newer_version_exists(session: Session, flow: ReportingFlow) -> bool:
    return (
        session.execute(
            sa.select(sa.func.count()).select_from(ReportingFlow).where(*_versions(flow, True))
        ).scalar_one()
        > 0
    )


def _supersede_older(session: Session, flow: ReportingFlow) -> None:
    """Older versions become ``superseded``: their entries and anomalies stay as history, the
    newest version is the one reconciliation and recovery read."""
    older = sa.select(ReportingFlow.id).where(*_versions(flow, False)).scalar_subquery()
    session.execute(
        sa.update(ReportingFlow)
        .where(ReportingFlow.id.in_(older))
        .values(status="superseded")
        .execution_options(synchronize_session="fetch")
    )


def _entry_row(
    flow: ReportingFlow,
    e: ParsedEntry,
    match: str,
    *,
    receipt: Receipt | None = None,
    option_id: int | None = None,
) -> ReportingEntry:
    """An entry as an ORM row: the values the bulk path writes (``_entry_values``)."""
    receipt_pk = receipt.id if receipt else None
    values = _entry_values(flow, e, match, receipt_pk=receipt_pk, option_id=option_id)
    return ReportingEntry(**dict(zip(_ENTRY_COLUMNS, values, strict=True)))


def _match(
    session: Session,
    ente: Ente,
    flow: ReportingFlow,
    e: ParsedEntry,
    outcome: FlowOutcome,
    now: dt.datetime,
) -> None:
    what = {"flow": flow.flow_id, "iuv": e.iuv, "iur": e.iur}  # the anomaly detail's subject
    receipt = session.scalars(
        sa.select(Receipt).where(
            Receipt.ec_fiscal_code == ente.fiscal_code,
            Receipt.receipt_id == e.iur,
            Receipt.creditor_reference_id == e.iuv,
        )
    ).one_or_none()
    other_ente = False
    if receipt is None:
        receipt = _receipt_of_other_ente(session, ente, e)
        other_ente = receipt is not None
    if receipt is None or other_ente:
        option_id = session.scalar(
            sa.select(PaymentOption.id).where(
                PaymentOption.ente_id == ente.id, PaymentOption.iuv == e.iuv
            )
        )
    else:
        option_id = receipt.option_id

    def flag(kind: str, match: str, detail: str) -> None:
        row = _entry_row(flow, e, match, receipt=receipt, option_id=option_id)
        session.add(row)
        _flag(
            session,
            outcome,
            kind,
            detail,
            option_id=option_id,
            receipt_pk=receipt.id if receipt else None,
        )

    if e.outcome_code == REVOKED_CODE:
        return flag(
            "fdr_payment_revoked", "revoked", anomaly_details.detail("fdr_payment_revoked", **what)
        )
    if receipt is None:
        if e.outcome_code in WITHOUT_RPT_CODES:
            return flag(
                "fdr_paid_without_rpt",
                "without_rpt",
                anomaly_details.detail("fdr_paid_without_rpt", **what, outcome_code=e.outcome_code),
            )
        return flag(
            "fdr_entry_without_receipt",
            "no_receipt",
            anomaly_details.detail("fdr_entry_without_receipt", **what),
        )
    expected = _expected_cents(session, receipt, e.index, ente.fiscal_code)
    mismatch = expected != e.amount_cents
    if other_ente:  # a transfer to us in another Ente's notice: its own flow reports it
        if mismatch:
            return flag(
                "fdr_amount_mismatch",
                "amount_mismatch",
                anomaly_details.detail(
                    "fdr_other_ente_amount",
                    **what,
                    amount_cents=e.amount_cents,
                    expected_cents=expected,
                ),
            )
        session.add(_entry_row(flow, e, "other_ente", receipt=receipt, option_id=None))
        return None
    option = payments.lock_option_by_id(session, option_id) if option_id else None
    if option is None or option.status not in PAID_STATES:
        return flag(
            "fdr_notice_not_paid",
            "not_paid",
            anomaly_details.detail("fdr_notice_not_paid", **what, status=str(option.status))
            if option
            else anomaly_details.detail("fdr_notice_unknown", **what),
        )
    if mismatch:
        flag(
            "fdr_amount_mismatch",
            "amount_mismatch",
            anomaly_details.detail(
                "fdr_amount_mismatch",
                **what,
                amount_cents=e.amount_cents,
                transfer=e.index or "-",
                expected_cents=expected,
            ),
        )
    else:
        session.add(_entry_row(flow, e, "matched", receipt=receipt, option_id=option.id))
    # reported even with an amount mismatch: the PSP did report the payment (support sees it)
    if option.status == OptionStatus.PAID:
        payments.apply_event(session, option, "report", cause=f"fdr:{flow.flow_id}", now=now)
        outcome.reported += 1
    return None


# --- matching a flow's entries in bulk -------------------------------------------------------

BATCH = 5000  # entries resolved, locked and written per round (every IN list below this)
# a flow of at most this many entries has its follow-up messages relayed after the commit, as
# a receipt's are; a larger one leaves them to the outbox sweeper (batches of 500)
RELAY_LIMIT = 500
_ENTRY_COLUMNS = (
    "flow_pk",
    "iuv",
    "iur",
    "transfer_index",
    "amount_cents",
    "outcome_code",
    "outcome_date",
    "pay_status",
    "match",
    "receipt_pk",
    "option_id",
)
_ENTRY_COPY = f"COPY reporting_entry ({', '.join(_ENTRY_COLUMNS)}) FROM STDIN"


@dataclass(frozen=True)
class _OwnReceipt:
    """What matching reads of a receipt of the flow's own Ente."""

    id: int
    option_id: int | None
    payment_amount_cents: int


def _entry_values(
    flow: ReportingFlow,
    e: ParsedEntry,
    match: str,
    *,
    receipt_pk: int | None = None,
    option_id: int | None = None,
) -> tuple[Any, ...]:
    """An entry row, its values in the order of ``_ENTRY_COLUMNS``."""
    return (
        flow.id,
        e.iuv,
        e.iur,
        e.index,
        e.amount_cents,
        e.outcome_code,
        e.outcome_date,
        e.pay_status,
        match,
        receipt_pk,
        option_id,
    )


def _insert_entries(session: Session, rows: list[tuple[Any, ...]]) -> None:
    """Entry rows in the order given: one COPY on PostgreSQL, one executemany elsewhere."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.flush()
        driver = cast(psycopg.Connection[Any], session.connection().connection.driver_connection)
        with driver.cursor() as cursor, cursor.copy(_ENTRY_COPY) as copy:
            for row in rows:
                copy.write_row(row)
    else:
        session.execute(
            sa.insert(ReportingEntry), [dict(zip(_ENTRY_COLUMNS, row, strict=True)) for row in rows]
        )


def _match_batch(
    session: Session,
    ente: Ente,
    flow: ReportingFlow,
    batch: Sequence[ParsedEntry],
    outcome: FlowOutcome,
    now: dt.datetime,
    *,
    relay: bool,
) -> bool:
    """``_match`` for a batch of entries, set-based: the receipts, options and transfers they
    name read with one query each, the receipts' options locked in id order, the entry rows,
    anomalies, status changes and history written in bulk. Same decisions, in the same entry
    order, as ``_match`` makes one entry at a time. Returns whether an entry was left without
    a receipt (then the caller registers it for recovery: ``_want_receipts``)."""
    fc = ente.fiscal_code
    session.flush()
    own: dict[tuple[str, str], _OwnReceipt] = {}
    for r in _rows(
        session,
        sa.select(
            Receipt.id,
            Receipt.receipt_id,
            Receipt.creditor_reference_id,
            Receipt.option_id,
            Receipt.payment_amount_cents,
        ).where(
            Receipt.ec_fiscal_code == fc,
            among(session, Receipt.receipt_id, {e.iur for e in batch}),
        ),
    ):
        own[(r.creditor_reference_id, r.receipt_id)] = _OwnReceipt(
            r.id, r.option_id, r.payment_amount_cents
        )
    # a transfer to us in another Ente's notice (rare): its receipts, as _receipt_of_other_ente
    others: dict[tuple[str, str], list[Receipt]] = {}
    wanted = {(e.iuv, e.iur) for e in batch if e.index is not None and (e.iuv, e.iur) not in own}
    if wanted:
        for candidate in session.scalars(
            sa.select(Receipt)
            .where(
                among(session, Receipt.receipt_id, {iur for _, iur in wanted}),
                Receipt.ec_fiscal_code != fc,
            )
            .order_by(Receipt.id)
        ):
            key = (candidate.creditor_reference_id, candidate.receipt_id)
            if key in wanted:
                others.setdefault(key, []).append(candidate)
    resolved: list[tuple[ParsedEntry, _OwnReceipt | Receipt | None, bool]] = []
    for e in batch:
        found: _OwnReceipt | Receipt | None = own.get((e.iuv, e.iur))
        other_ente = False
        if found is None and e.index is not None:
            found = _other_ente_receipt(others.get((e.iuv, e.iur), ()), e, fc)
            other_ente = found is not None
        resolved.append((e, found, other_ente))
    by_iuv = _options_by_iuv(
        session, ente.id, {e.iuv for e, receipt, other in resolved if receipt is None or other}
    )
    option_ids = {
        r.option_id
        for e, r, other in resolved
        if isinstance(r, _OwnReceipt) and r.option_id is not None
    }
    statuses, cents = _lock_statuses(session, option_ids)
    receipt_transfers = _receipt_transfers(
        session,
        {
            r.id
            for e, r, other in resolved
            if isinstance(r, _OwnReceipt)
            and e.index is not None
            and (r.option_id is None or (r.option_id, e.index) not in cents)
        },
    )
    entries: list[tuple[Any, ...]] = []
    anomalies: list[dict[str, Any]] = []
    report: list[int] = []
    for e, receipt, other_ente in resolved:
        option_id = by_iuv.get(e.iuv) if receipt is None or other_ente else receipt.option_id
        kind, match, detail, state = _decide(
            session, flow, fc, e, receipt, other_ente, option_id, statuses, cents, receipt_transfers
        )
        receipt_pk = receipt.id if receipt is not None else None
        entries.append(
            _entry_values(
                flow,
                e,
                match,
                receipt_pk=receipt_pk,
                option_id=None if match == "other_ente" else option_id,
            )
        )
        if kind is not None:
            anomalies.append(
                {
                    "kind": kind,
                    "ente_id": flow.ente_id,
                    "option_id": option_id,
                    "receipt_pk": receipt_pk,
                    "flow_pk": flow.id,
                    "credit_pk": None,
                    "detail": detail[:500],
                }
            )
            outcome.anomalies.append(kind)
        # reported even with an amount mismatch, as _match does
        if state == OptionStatus.PAID and option_id is not None:
            report.append(option_id)
            statuses[option_id] = OptionStatus.REPORTED
    _insert_entries(session, entries)
    if anomalies:
        session.execute(sa.insert(Anomaly), anomalies)
        log.warning(
            "reconciliation.anomalies",
            flow_pk=flow.id,
            kinds=dict(Counter(a["kind"] for a in anomalies)),
        )
    _report(session, flow, report, now, relay=relay)
    outcome.reported += len(report)
    match_at = _ENTRY_COLUMNS.index("match")
    return any(row[match_at] in WANTS_RECEIPT for row in entries)


def _decide(
    session: Session,
    flow: ReportingFlow,
    fc: str,
    e: ParsedEntry,
    receipt: _OwnReceipt | Receipt | None,
    other_ente: bool,
    option_id: int | None,
    statuses: Mapping[int, str],
    cents: Mapping[tuple[int, int], int],
    receipt_transfers: Mapping[int, list | None],
) -> tuple[str | None, str, str, str | None]:
    """``_match``'s decision for one entry: (anomaly kind or None, match, detail, the state of
    the option to report or None)."""
    what = {"flow": flow.flow_id, "iuv": e.iuv, "iur": e.iur}  # the anomaly detail's subject
    if e.outcome_code == REVOKED_CODE:
        detail = anomaly_details.detail("fdr_payment_revoked", **what)
        return "fdr_payment_revoked", "revoked", detail, None
    if receipt is None:
        if e.outcome_code in WITHOUT_RPT_CODES:
            detail = anomaly_details.detail(
                "fdr_paid_without_rpt", **what, outcome_code=e.outcome_code
            )
            return "fdr_paid_without_rpt", "without_rpt", detail, None
        detail = anomaly_details.detail("fdr_entry_without_receipt", **what)
        return "fdr_entry_without_receipt", "no_receipt", detail, None
    expected: int | None
    if isinstance(receipt, Receipt):  # another Ente's: its own transfer list
        expected = _expected_cents(session, receipt, e.index, fc)
    elif e.index is None:
        expected = receipt.payment_amount_cents
    else:
        expected = cents.get((receipt.option_id, e.index)) if receipt.option_id else None
        if expected is None:
            expected = _cents_in(receipt_transfers.get(receipt.id), e.index)
    mismatch = expected != e.amount_cents
    if other_ente:
        if mismatch:
            detail = anomaly_details.detail(
                "fdr_other_ente_amount",
                **what,
                amount_cents=e.amount_cents,
                expected_cents=expected,
            )
            return "fdr_amount_mismatch", "amount_mismatch", detail, None
        return None, "other_ente", "", None
    state = statuses.get(option_id) if option_id else None
    if state is None or state not in PAID_STATES:
        detail = (
            anomaly_details.detail("fdr_notice_not_paid", **what, status=state)
            if state
            else anomaly_details.detail("fdr_notice_unknown", **what)
        )
        return "fdr_notice_not_paid", "not_paid", detail, None
    if mismatch:
        detail = anomaly_details.detail(
            "fdr_amount_mismatch",
            **what,
            amount_cents=e.amount_cents,
            transfer=e.index or "-",
            expected_cents=expected,
        )
        return "fdr_amount_mismatch", "amount_mismatch", detail, state
    return None, "matched", "", state


def _rows(session: Session, statement: sa.Executable) -> Sequence[Any]:
    """Rows of a read of plain columns, through the session's connection, fetched at once:
    no ORM loading and no row-by-row fetching for thousands of tuples (the caller has
    flushed: nothing pending goes unseen)."""
    return session.connection().execute(statement).all()


def _other_ente_receipt(candidates: Iterable[Receipt], e: ParsedEntry, fc: str) -> Receipt | None:
    for receipt in candidates:
        for t in receipt.transfers or ():
            if str(t.get("idTransfer")) == str(e.index) and t.get("fiscalCodePA") == fc:
                return receipt
    return None


def _options_by_iuv(session: Session, ente_id: int, iuvs: set[str]) -> dict[str, int]:
    if not iuvs:
        return {}
    rows = _rows(
        session,
        sa.select(PaymentOption.iuv, PaymentOption.id).where(
            PaymentOption.ente_id == ente_id, among(session, PaymentOption.iuv, iuvs)
        ),
    )
    return {iuv: option_id for iuv, option_id in rows}


def _lock_statuses(
    session: Session, option_ids: set[int]
) -> tuple[dict[int, str], dict[tuple[int, int], int]]:
    """The options' states, their rows locked in id order (two flows never deadlock), and
    the cents of each of their transfers by (option id, transfer index), in one query."""
    if not option_ids:
        return {}, {}
    rows = _rows(
        session,
        sa.select(
            PaymentOption.id, PaymentOption.status, Transfer.id_transfer, Transfer.amount_cents
        )
        .outerjoin(Transfer, Transfer.option_id == PaymentOption.id)
        .where(among(session, PaymentOption.id, option_ids))
        .order_by(PaymentOption.id)
        .with_for_update(of=PaymentOption),
    )
    statuses: dict[int, str] = {}
    cents: dict[tuple[int, int], int] = {}
    for option_id, status, index, amount in rows:
        statuses[option_id] = status
        if index is not None:
            cents[(option_id, index)] = amount
    return statuses, cents


def _receipt_transfers(session: Session, receipt_ids: set[int]) -> dict[int, list | None]:
    if not receipt_ids:
        return {}
    rows = _rows(
        session,
        sa.select(Receipt.id, Receipt.transfers).where(among(session, Receipt.id, receipt_ids)),
    )
    return {receipt_id: transfers for receipt_id, transfers in rows}


def _cents_in(transfers: list | None, index: int) -> int | None:
    for t in transfers or ():
        if str(t.get("idTransfer")) == str(index) and t.get("transferAmount"):
            return int(Decimal(str(t["transferAmount"])) * 100)
    return None


def _report(
    session: Session, flow: ReportingFlow, option_ids: list[int], now: dt.datetime, *, relay: bool
) -> None:
    """Move the (locked, paid) options to reported and record it through hub.payments: the
    machine asked once, one UPDATE, the history rows and messages in bulk."""
    if not option_ids:
        return
    target = payments.next_states("report", [OptionStatus.PAID], now)[OptionStatus.PAID]
    held: dict[int, PaymentOption] = {}  # the options this session holds (usually none)
    for obj in session.identity_map.values():
        if isinstance(obj, PaymentOption):  # by its identity key: an expired one is not loaded
            held[cast(tuple[int], sa.inspect(obj).identity)[0]] = obj
    update = (
        sa.update(PaymentOption)
        .where(
            among(session, PaymentOption.id, option_ids),
            PaymentOption.status == OptionStatus.PAID,
        )
        .values(status=target, version=PaymentOption.version + 1)
        .execution_options(synchronize_session=False)
    )
    if not held:
        session.execute(update)
    else:
        for option_id, version in session.execute(
            update.returning(PaymentOption.id, PaymentOption.version)
        ):
            if (option := held.get(option_id)) is not None:
                set_committed_value(option, "status", target)
                set_committed_value(option, "version", version)
    payments.record_transitions(
        session,
        [(option_id, OptionStatus.PAID, target) for option_id in option_ids],
        "report",
        cause=f"fdr:{flow.flow_id}",
        now=now,
        relay=relay,
    )


def _last_entry_id(session: Session) -> int:
    """The highest entry id so far (the primary key's index: one probe)."""
    session.flush()
    return int(session.scalar(sa.select(sa.func.max(ReportingEntry.id))) or 0)


def _want_receipts(session: Session, flow: ReportingFlow, now: dt.datetime, after: int) -> None:
    """Register each entry of ``flow`` stored after entry id ``after`` (the batch just
    matched) and left without a receipt for receipt recovery (once per Ente, IUV and IUR: a
    later revision naming it again changes nothing). Reads only the batch's entries that
    want one (the primary key's range, not every entry of the flow so far)."""
    session.flush()
    rows = session.execute(
        sa.select(
            ReportingEntry.id,
            ReportingEntry.iuv,
            ReportingEntry.iur,
            ReportingEntry.option_id,
            ReportingEntry.match,
        )
        .where(
            ReportingEntry.flow_pk == flow.id,
            ReportingEntry.id > after,
            ReportingEntry.match.in_(WANTS_RECEIPT),
        )
        .order_by(ReportingEntry.id)
    ).all()
    if not rows:
        return
    batch = rows
    known = {
        (iuv, iur)
        for iuv, iur in session.execute(
            sa.select(ReceiptRecovery.iuv, ReceiptRecovery.iur).where(
                ReceiptRecovery.ente_id == flow.ente_id,
                among(session, ReceiptRecovery.iuv, {r.iuv for r in batch}),
            )
        ).all()
    }
    wanted = []
    for row in batch:
        if (row.iuv, row.iur) in known:
            continue
        known.add((row.iuv, row.iur))
        wanted.append(
            {
                "ente_id": flow.ente_id,
                "iuv": row.iuv,
                "iur": row.iur,
                "option_id": row.option_id,
                "entry_pk": row.id,
                "reason": "flow_entry",
                "status": "pending",
                "attempts": 0,
                "first_seen_at": now,
                "next_attempt_at": now,
            }
        )
    if wanted:
        session.execute(sa.insert(ReceiptRecovery), wanted)


def rematch_entries(session: Session, receipt: Receipt, now: dt.datetime | None = None) -> int:
    """A receipt recovered after its flow arrived: match the current flows' entries that
    name it and were left without a receipt, and report its option. Returns the entries
    matched."""
    now = now or utcnow()
    ente = session.get(Ente, receipt.ente_id) if receipt.ente_id else None
    if ente is None:
        return 0
    entries = session.scalars(
        sa.select(ReportingEntry)
        .join(ReportingFlow, ReportingFlow.id == ReportingEntry.flow_pk)
        .where(
            ReportingFlow.ente_id == ente.id,
            ReportingFlow.status != "superseded",
            ReportingEntry.iuv == receipt.creditor_reference_id,
            ReportingEntry.iur == receipt.receipt_id,
            ReportingEntry.match.in_(WANTS_RECEIPT),
        )
    ).all()
    matched = 0
    for row in entries:
        flow = row.flow
        parsed = ParsedEntry(
            iuv=row.iuv,
            iur=row.iur,
            index=row.transfer_index,
            amount_cents=row.amount_cents,
            outcome_code=row.outcome_code,
            outcome_date=row.outcome_date,
            pay_status=row.pay_status,
        )
        session.delete(row)
        session.flush()
        outcome = FlowOutcome(flow, created=False)
        _match(session, ente, flow, parsed, outcome, now)
        matched += 1
    return matched


def _receipt_of_other_ente(session: Session, ente: Ente, e: ParsedEntry) -> Receipt | None:
    """A receipt of another Ente whose transfer ``e.index`` credits ``ente`` (a
    multi-beneficiary notice): the flow for the secondary Ente names the primary's IUV."""
    if e.index is None:
        return None
    for receipt in session.scalars(
        sa.select(Receipt).where(
            Receipt.receipt_id == e.iur,
            Receipt.creditor_reference_id == e.iuv,
            Receipt.ec_fiscal_code != ente.fiscal_code,
        )
    ):
        for t in receipt.transfers or ():
            if (
                str(t.get("idTransfer")) == str(e.index)
                and t.get("fiscalCodePA") == ente.fiscal_code
            ):
                return receipt
    return None


def _expected_cents(
    session: Session, receipt: Receipt, index: int | None, ec_fiscal_code: str
) -> int | None:
    """What the entry should carry: transfer ``index`` of the notice (our Transfer rows, or
    the receipt's own transfer list), or the whole payment when the flow gives no index."""
    if index is None:
        return receipt.payment_amount_cents
    if receipt.option_id is not None and receipt.ec_fiscal_code == ec_fiscal_code:
        cents = session.scalar(
            sa.select(Transfer.amount_cents).where(
                Transfer.option_id == receipt.option_id, Transfer.id_transfer == index
            )
        )
        if cents is not None:
            return cents
    for t in receipt.transfers or ():
        if str(t.get("idTransfer")) == str(index) and t.get("transferAmount"):
            return int(Decimal(str(t["transferAmount"])) * 100)
    return None


def _flag(
    session: Session,
    outcome: FlowOutcome,
    kind: str,
    detail: str,
    *,
    option_id: int | None = None,
    receipt_pk: int | None = None,
) -> None:
    statements.open_anomaly(
        session,
        kind,
        detail,
        ente_id=outcome.flow.ente_id,
        option_id=option_id,
        receipt_pk=receipt_pk,
        flow_pk=outcome.flow.id,
    )
    outcome.anomalies.append(kind)


# --- what the ingestion actor asks -----------------------------------------------------------


def enti_of_station(session: Session, station_code: str) -> list[Ente]:
    """The Enti the station serves (whose flows it may ask the Node for)."""
    return list(
        session.scalars(
            sa.select(Ente)
            .join(Station.enti)
            .where(Station.station_code == station_code)
            .order_by(Ente.id)
        )
    )


def enti_to_poll(session: Session, station_codes: Sequence[str] = ()) -> list[Ente]:
    """Every Ente of every station (or of ``station_codes``), once each: whose flows we ask
    FdR 3 for."""
    query = sa.select(Ente).join(Station.enti)
    if station_codes:
        query = query.where(Station.station_code.in_(list(station_codes)))
    return list(session.scalars(query.distinct().order_by(Ente.id)))


def stored_versions(
    session: Session, ente_id: int, flow_ids: Iterable[str]
) -> set[tuple[str, dt.datetime]]:
    """(flow id, date-time) of the versions of these flows already stored for the Ente."""
    ids = sorted(set(flow_ids))
    found: set[tuple[str, dt.datetime]] = set()
    for start in range(0, len(ids), BATCH):  # a Node listing thousands: bounded statements
        rows = session.execute(
            sa.select(ReportingFlow.flow_id, ReportingFlow.flow_datetime).where(
                ReportingFlow.ente_id == ente_id,
                among(session, ReportingFlow.flow_id, ids[start : start + BATCH]),
            )
        ).all()
        found.update((flow_id, when) for flow_id, when in rows)
    return found


def flag_refused_flow(session: Session, ente_id: int | None, flow_id: str, reason: str) -> None:
    """A flow the Node gave us that we cannot store: kept as an anomaly for support."""
    statements.open_anomaly(
        session,
        "fdr_refused",
        anomaly_details.detail("fdr_refused", flow=flow_id, reason=reason),
        ente_id=ente_id,
    )
