"""Which daily files a day has, building their versions, and the deliveries each one starts.

A payment belongs to the business day (Europe/Rome) of its ``paymentDateTime`` (the receipt's
arrival when pagoPA sent none), to its Ente, and to the service of its debt position (the
"generic" file, service ``GENERICO``, when the position has no service or the notice is not
known). Only receipts with outcome OK are payments.

A receipt marked as a test (``receipt.test``: through a station of pagoPA's test environment,
or for an Ente or service active in test only) moved no money and is in no real file. While
the Ente, or the service, is active in test only (``production`` False), its test receipts
make a **test file** of their own (``DailyFile.test``, marked in its names, header and
manifest: hub.dailyfile.layout), so that its referente can check the integration before going
live; once in production, its test receipts are in no file. A file is either test or real,
never both; a day may have both for one service (the day it went live), numbered in one
sequence of versions, so that a version number names one file.

``produce`` builds a version only when the receipts of that file changed since the latest one
(``source_digest``): a re-run with nothing new gives back the latest version, and building the
same receipts again gives the same bytes (hub.dailyfile.layout). A receipt that arrived late
makes a new version; both are kept. Each new version gets one delivery per matching target,
sent through the outbox (``deliver_daily_file``) in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub import actor_names, outbox
from hub.clock import ROME
from hub.dailyfile import layout, refunds
from hub.dailyfile.refunds import IN_TEST
from hub.models import (
    AuditEvent,
    DailyFile,
    DailyFileDelivery,
    DailyFileTarget,
    DebtPosition,
    Ente,
    PaymentOption,
    PaymentService,
    Receipt,
)
from hub.models.dailyfiles import GENERIC_SERVICE

QUEUE = "daily_files"  # the Dramatiq queue of the daily files' actors (actors/dailyfile.py)
PAID_AT = sa.func.coalesce(Receipt.payment_date_time, Receipt.received_at)
SERVICE: sa.ColumnElement[str] = sa.func.coalesce(PaymentService.code, GENERIC_SERVICE)
# a receipt recovered from pagoPA's receipts service is kept as the JSON it came in
# (hub.reconciliation.recovery): its first character tells (a slice, not the whole text)
IS_JSON: sa.ColumnElement[bool] = sa.func.substr(Receipt.raw_xml, 1, 1) == "{"
XML_CHUNK = 500
# a receipt arrives after its payment (late ones days after): a lower bound on received_at,
# with a day's margin for clocks, lets the (ente_id, received_at) index find a day's receipts
ARRIVAL_MARGIN = dt.timedelta(days=1)


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The business day's first instant and the next day's, in UTC (23, 24 or 25 hours)."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=ROME)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=ROME)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def _with_scope(query: sa.Select) -> sa.Select:
    """``query`` over receipts with each one's option, position, service (all outer) and
    Ente: what ``IN_TEST`` reads."""
    return (
        query.select_from(Receipt)
        .outerjoin(PaymentOption, PaymentOption.id == Receipt.option_id)
        .outerjoin(DebtPosition, DebtPosition.id == PaymentOption.position_id)
        .outerjoin(PaymentService, PaymentService.id == DebtPosition.service_id)
        .join(Ente, Ente.id == Receipt.ente_id)
    )


# a receipt in some file: a real one, or a test one while its Ente or service is in test only
FILED: sa.ColumnElement[bool] = sa.or_(Receipt.test.is_(False), IN_TEST)


def _joined(query: sa.Select, ente_id: int, day: dt.date, test: bool = False) -> sa.Select:
    start, end = day_bounds(day)
    return _with_scope(query).where(
        Receipt.ente_id == ente_id,
        Receipt.outcome == "OK",
        Receipt.test.is_(True) & IN_TEST if test else Receipt.test.is_(False),
        Receipt.received_at >= start - ARRIVAL_MARGIN,
        start <= PAID_AT,
        end > PAID_AT,
    )


def _is_service(service: str) -> sa.ColumnElement[bool]:
    return SERVICE.is_not_distinct_from(service)


def services_of_day(
    session: Session, ente_id: int, day: dt.date, *, test: bool = False
) -> list[str]:
    """The service codes with payments or refund steps that day, sorted: of the real files,
    or, with ``test``, of the test files."""
    query = _joined(sa.select(SERVICE).distinct(), ente_id, day, test)
    steps = refunds.services_of_day(session, ente_id, *day_bounds(day), test=test)
    return sorted(set(session.scalars(query)) | steps)


def source_digest(
    session: Session, ente_id: int, service: str, day: dt.date, *, test: bool = False
) -> str:
    """A fingerprint of the receipts and refund steps of one file: same receipts and steps,
    same digest (a file with no refund step keeps the digest it had before they were listed)."""
    digest = hashlib.sha256()
    query = _joined(sa.select(Receipt.id), ente_id, day, test).where(_is_service(service))
    for receipt_pk in session.scalars(query.order_by(Receipt.id).execution_options(yield_per=5000)):
        digest.update(b"%d\n" % receipt_pk)
    for step in refunds.steps(session, ente_id, service, *day_bounds(day), test=test):
        digest.update(b"refund:%d\n" % step.event_pk)
    return digest.hexdigest()


def payments(
    session: Session, ente_id: int, service: str, day: dt.date, *, test: bool = False
) -> Iterator[layout.Payment]:
    """The file's payments in file order (payment time, then arrival), streamed."""
    columns = (
        Receipt.id,
        Receipt.receipt_id,
        Receipt.creditor_reference_id,
        Receipt.notice_number,
        DebtPosition.iupd,
        PaymentOption.instalment_number,
        PaymentOption.instalment_count,
        Receipt.debtor_fiscal_code,
        Receipt.payer_fiscal_code,
        Receipt.payment_amount_cents,
        Receipt.fee_cents,
        PAID_AT,
        Receipt.id_psp,
        Receipt.psp_company_name,
        Receipt.payment_method,
        Receipt.description,
        Receipt.primitive_version,
        IS_JSON,
    )
    query = (
        _joined(sa.select(*columns), ente_id, day, test)
        .where(_is_service(service))
        .order_by(PAID_AT, Receipt.id)
        .execution_options(yield_per=2000)
    )
    for row in session.execute(query):
        yield layout.Payment(*row)


def receipts_xml(session: Session) -> Callable[[Iterable[int]], Iterator[tuple[int, str]]]:
    """Read receipts' original XML by id, in the order asked, ``XML_CHUNK`` at a time."""

    def read(ids: Iterable[int]) -> Iterator[tuple[int, str]]:
        chunk: list[int] = []
        for receipt_pk in ids:
            chunk.append(receipt_pk)
            if len(chunk) == XML_CHUNK:
                yield from _chunk(session, chunk)
                chunk = []
        if chunk:
            yield from _chunk(session, chunk)

    return read


def _chunk(session: Session, ids: list[int]) -> Iterator[tuple[int, str]]:
    query = sa.select(Receipt.id, Receipt.raw_xml).where(Receipt.id.in_(ids))
    rows = {receipt_pk: xml for receipt_pk, xml in session.execute(query)}
    for receipt_pk in ids:
        yield receipt_pk, rows[receipt_pk]


def latest(
    session: Session, ente_id: int, service: str, day: dt.date, *, test: bool | None = None
) -> DailyFile | None:
    """The newest version of the day's file of ``service``: real or test (``test`` None), or
    the newest of the test (True) or real (False) ones."""
    query = sa.select(DailyFile).where(
        DailyFile.ente_id == ente_id,
        DailyFile.service_code == service,
        DailyFile.business_date == day,
    )
    if test is not None:
        query = query.where(DailyFile.test.is_(test))
    return session.scalar(query.order_by(DailyFile.version.desc()).limit(1))


def produce(
    session: Session,
    ente: Ente,
    service: str,
    day: dt.date,
    directory: Path,
    *,
    test: bool = False,
) -> tuple[DailyFile, bool]:
    """The file of ``ente``'s ``service`` on ``day`` (its test file, with ``test``): the
    latest version if its receipts are unchanged (False), else a new version built now
    (True), numbered after the day's newest file of the service, test or real. The new row is
    flushed; the caller's transaction commits it (a zip left by a rolled-back run is
    overwritten)."""
    digest = source_digest(session, ente.id, service, day, test=test)
    last = latest(session, ente.id, service, day, test=test)
    if last is not None and last.source_digest == digest and Path(last.path).exists():
        return last, False
    if last is not None and last.source_digest == digest:
        version = last.version  # the file went missing from disk: rebuilt, same bytes
    else:
        newest = latest(session, ente.id, service, day)
        version = newest.version + 1 if newest is not None else 1
    header = layout.FileHeader(ente.fiscal_code, ente.name, service, day, version, test)
    folder = directory / ente.fiscal_code / f"{day:%Y/%m}"
    work = folder / f"{header.stem}_v{version}.zip"
    built = layout.write_zip(
        work,
        header,
        payments(session, ente.id, service, day, test=test),
        receipts_xml(session),
        refunds.steps(session, ente.id, service, *day_bounds(day), test=test),
    )
    name = f"{header.stem}_v{version}_{built.sha256[:16]}.zip"
    final = folder / name
    work.replace(final)
    if last is not None and last.version == version:  # rebuilt in place
        last.path, last.file_name = str(final), name
        return last, False
    row = DailyFile(
        ente_id=ente.id,
        service_code=service,
        business_date=day,
        version=version,
        test=test,
        file_name=name,
        path=str(final),
        size=built.size,
        sha256=built.sha256,
        source_digest=digest,
        payments=built.payments,
        total_cents=built.total_cents,
    )
    session.add(row)
    session.flush()
    schedule_deliveries(session, row)
    return row, True


def targets_for(session: Session, ente_id: int, service: str) -> list[DailyFileTarget]:
    """The Ente's enabled targets for every service, and those for this one."""
    return list(
        session.scalars(
            sa.select(DailyFileTarget)
            .where(
                DailyFileTarget.ente_id == ente_id,
                DailyFileTarget.enabled.is_(True),
                sa.or_(
                    DailyFileTarget.service_code.is_(None),
                    DailyFileTarget.service_code == service,
                ),
            )
            .order_by(DailyFileTarget.id)
        )
    )


def schedule_deliveries(session: Session, file: DailyFile) -> list[DailyFileDelivery]:
    """One delivery per target of the file, each sent through the outbox."""
    made = []
    for target in targets_for(session, file.ente_id, file.service_code):
        delivery = DailyFileDelivery(
            file_id=file.id, target_id=target.id, ente_id=file.ente_id, where=target.where
        )
        session.add(delivery)
        session.flush()
        outbox.enqueue(session, actor_names.DELIVER_DAILY_FILE, delivery_id=delivery.id)
        made.append(delivery)
    return made


def build_day(
    session: Session, ente: Ente, day: dt.date, directory: Path
) -> list[tuple[DailyFile, bool]]:
    """Every file of ``ente`` on ``day``: one per service with payments, and one per service
    with test payments while it (or the Ente) is active in test only; with none at all, an
    empty generic file when the Ente has somewhere to deliver it (the office hears "nothing
    today" rather than nothing), a test file while the Ente is in test only."""
    files = [(service, False) for service in services_of_day(session, ente.id, day)]
    files += [(service, True) for service in services_of_day(session, ente.id, day, test=True)]
    if not files and targets_for(session, ente.id, GENERIC_SERVICE):
        files = [(GENERIC_SERVICE, not ente.production)]
    return [produce(session, ente, service, day, directory, test=test) for service, test in files]


def queue_build(session: Session, ente_id: int, day: dt.date) -> None:
    """Have the Ente's files of ``day`` built in the background (an outbox message to the
    build actor): the scheduled run's per-Ente builds, and a day built again on request."""
    outbox.enqueue(
        session,
        actor_names.BUILD_DAILY_FILES,
        queue_name=QUEUE,
        day=day.isoformat(),
        ente_id=ente_id,
    )


def enti_of_day(session: Session, day: dt.date) -> list[int]:
    """Enti with a payment that day, a receipt that arrived that day (late for an earlier
    day's file: ``late_days``), or a delivery target: the scheduled run's list."""
    start, end = day_bounds(day)
    paid = _with_scope(sa.select(Receipt.ente_id)).where(
        Receipt.ente_id.is_not(None),
        Receipt.outcome == "OK",
        FILED,
        Receipt.received_at >= start - ARRIVAL_MARGIN,
        sa.or_(
            sa.and_(start <= PAID_AT, end > PAID_AT),
            sa.and_(Receipt.received_at >= start, Receipt.received_at < end),
        ),
    )
    targeted = sa.select(DailyFileTarget.ente_id).where(DailyFileTarget.enabled.is_(True))
    stepped = sa.select(AuditEvent.ente_id).where(
        AuditEvent.ente_id.is_not(None),
        AuditEvent.action.in_(list(refunds.STEP_ACTIONS)),
        AuditEvent.created_at >= start,
        AuditEvent.created_at < end,
    )
    return sorted(set(session.scalars(sa.union(paid, targeted, stepped))))


def late_days(session: Session, ente_id: int, day: dt.date) -> list[dt.date]:
    """The earlier business days of the Ente's receipts that arrived on ``day``: each one
    late for its own day's file (a PSP's late paSendRT, a Stand-In receipt, one recovered
    from pagoPA). The night's run builds those days again: a new version where the receipt is
    not in the file yet, nothing where it is (it came before that day's file was built)."""
    start, end = day_bounds(day)
    moments = session.scalars(
        _with_scope(sa.select(PAID_AT))
        .where(
            Receipt.ente_id == ente_id,
            Receipt.outcome == "OK",
            FILED,
            Receipt.received_at >= start,
            Receipt.received_at < end,
            start > PAID_AT,
        )
        .distinct()
    )
    return sorted({moment.astimezone(ROME).date() for moment in moments})


def files_of(session: Session, ente_id: int, *, limit: int = 60) -> list[DailyFile]:
    """An Ente's files, newest day first, every version (newest first)."""
    return list(
        session.scalars(
            sa.select(DailyFile)
            .where(DailyFile.ente_id == ente_id)
            .order_by(
                DailyFile.business_date.desc(), DailyFile.service_code, DailyFile.version.desc()
            )
            .limit(limit)
        )
    )


def summaries(
    session: Session, ente_id: int, *, since: dt.date, until: dt.date
) -> list[dict[str, object]]:
    """The Ente's files between two days (both included), newest day first: per day and
    service the latest version (the latest test one too, if the day has test files: each a
    row of its own), how many versions, and where its deliveries stand
    (``delivered``: all delivered, or none to make; ``failed``: one dead or retrying;
    ``pending`` otherwise)."""
    rows = list(
        session.scalars(
            sa.select(DailyFile)
            .where(
                DailyFile.ente_id == ente_id,
                DailyFile.business_date >= since,
                DailyFile.business_date <= until,
            )
            .order_by(
                DailyFile.business_date.desc(), DailyFile.service_code, DailyFile.version.desc()
            )
        )
    )
    newest: dict[tuple[dt.date, str, bool], DailyFile] = {}
    versions: dict[tuple[dt.date, str, bool], int] = {}
    for row in rows:
        key = (row.business_date, row.service_code, row.test)
        newest.setdefault(key, row)
        versions[key] = versions.get(key, 0) + 1
    statuses: dict[int, list[str]] = {}
    if newest:
        ids = [f.id for f in newest.values()]
        for file_id, status in session.execute(
            sa.select(DailyFileDelivery.file_id, DailyFileDelivery.status).where(
                DailyFileDelivery.file_id.in_(ids)
            )
        ):
            statuses.setdefault(file_id, []).append(status)
    out = []
    for key, file in newest.items():
        seen = statuses.get(file.id, [])
        if any(s in ("dead", "retrying") for s in seen):
            state = "failed"
        elif all(s == "delivered" for s in seen):
            state = "delivered"
        else:
            state = "pending"
        out.append({"file": file, "versions": versions[key], "delivery": state})
    return out


def find(
    session: Session, ente_id: int, day: dt.date, service: str, version: int | None = None
) -> DailyFile | None:
    """One file of the Ente: the given version, or the latest."""
    if version is None:
        return latest(session, ente_id, service, day)
    return session.scalar(
        sa.select(DailyFile).where(
            DailyFile.ente_id == ente_id,
            DailyFile.service_code == service,
            DailyFile.business_date == day,
            DailyFile.version == version,
        )
    )
