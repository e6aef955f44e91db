"""A daily file's deliveries: claimed, attempted, retried with backoff, dead-lettered, re-sent.

The life of a delivery (DailyFileDelivery) mirrors a webhook's: ``pending`` -> ``sending``
(``claim``: row lock, then a lease committed before the transfer) -> ``delivered``, or
``retrying`` until ``next_attempt_at`` (exponential backoff), or ``dead`` after the last
attempt, which support sees and re-sends by hand (``redeliver``: a new round). A run that died
mid-transfer leaves ``sending`` with a lease: once it ends the delivery is due again
(``take_due``, the scheduler's sweep), so a crash re-delivers and never loses the file; the
transports skip a file already complete at the receiver, and its name carries its hash.

Each attempt is a DailyFileAttempt: when, where (never a secret), size, SHA-256, outcome.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from hub import actor_names, delivery_queue, outbox
from hub.dailyfile.transports import Parcel
from hub.db import utcnow
from hub.errors import Conflict
from hub.models import (
    DailyFile,
    DailyFileAttempt,
    DailyFileDelivery,
    DailyFileTarget,
    Ente,
)
from hub.models.dailyfiles import DELIVERY_DUE

UNFINISHED = ("pending", "retrying", "sending")
EARLY = dt.timedelta(seconds=1)  # a delayed message may run this early


@dataclass(frozen=True)
class Claimed:
    target: DailyFileTarget
    parcel: Parcel


def claim(
    session: Session,
    delivery_id: int,
    *,
    lease: dt.timedelta,
    max_attempts: int,
    now: dt.datetime | None = None,
) -> Claimed | None:
    """Take the delivery for one attempt, or None when there is nothing to do now (finished,
    a retry not yet due, another run holding a live lease). A claim left by a run that died
    counts as a failed attempt of unknown outcome."""
    now = now or utcnow()
    delivery = session.get(
        DailyFileDelivery, delivery_id, with_for_update=True, populate_existing=True
    )
    if delivery is None or delivery.status in ("delivered", "dead"):
        return None
    if delivery.status == "sending" and delivery.lease_until and delivery.lease_until > now:
        return None
    if (
        delivery.status == "retrying"
        and delivery.next_attempt_at
        and delivery.next_attempt_at > now + EARLY
    ):
        return None
    file = session.get(DailyFile, delivery.file_id)
    target = session.get(DailyFileTarget, delivery.target_id)
    assert file is not None and target is not None
    if delivery.status == "sending":  # the last run claimed it and never said how it went
        _add_attempt(session, delivery, file, now, 0, "error", "interrupted (lease expired)")
        delivery.attempts += 1
        if delivery.attempts >= max_attempts:
            delivery.status, delivery.last_error = "dead", "interrupted (lease expired)"
            delivery.lease_until = delivery.next_attempt_at = None
            return None
    delivery.status, delivery.lease_until = "sending", now + lease
    delivery.next_attempt_at = now + lease  # due again (take_due) if this run dies
    ente = session.get(Ente, file.ente_id)
    assert ente is not None
    session.expunge(target)  # handed to the transport after the transaction
    parcel = Parcel(
        path=Path(file.path),
        name=file.file_name,
        size=file.size,
        sha256=file.sha256,
        file_id=file.id,
        ente_fiscal_code=ente.fiscal_code,
        ente_name=ente.name,
        service_code=file.service_code,
        business_date=f"{file.business_date:%Y-%m-%d}",
        version=file.version,
        test=file.test,
    )
    return Claimed(target, parcel)


def _add_attempt(
    session: Session,
    delivery: DailyFileDelivery,
    file: DailyFile,
    started: dt.datetime,
    duration_ms: int,
    outcome: str,
    error: str | None,
) -> None:
    session.add(
        DailyFileAttempt(
            delivery_id=delivery.id,
            started_at=started,
            duration_ms=duration_ms,
            where=delivery.where,
            size=file.size,
            sha256=file.sha256,
            outcome=outcome,
            error=error and error[:500],
        )
    )


def record(
    session: Session,
    delivery_id: int,
    *,
    started: dt.datetime,
    duration_ms: int,
    error: str | None,
    max_attempts: int,
    backoff: Callable[[int], dt.timedelta],
) -> DailyFileDelivery:
    """Store the attempt and the delivery's new status (delivered, retrying or dead)."""
    delivery = session.get(
        DailyFileDelivery, delivery_id, with_for_update=True, populate_existing=True
    )
    assert delivery is not None
    file = session.get(DailyFile, delivery.file_id)
    assert file is not None
    _add_attempt(
        session, delivery, file, started, duration_ms, "ok" if error is None else "error", error
    )
    delivery.attempts += 1
    delivery.lease_until = delivery.next_attempt_at = None
    if error is None:
        delivery.status, delivery.delivered_at, delivery.last_error = "delivered", utcnow(), None
    else:
        delivery.last_error = error[:500]
        delivery.status = "dead" if delivery.attempts >= max_attempts else "retrying"
        if delivery.status == "retrying":
            delivery.next_attempt_at = utcnow() + backoff(delivery.attempts)
    return delivery


def take_due(
    session: Session, *, lease: dt.timedelta, limit: int = 500, now: dt.datetime | None = None
) -> list[int]:
    """Ids of deliveries due now (a retry's time has come, or a claim's lease ended), each
    postponed by ``lease`` so the next sweep sends it again only if this send came to nothing."""
    due = sa.text(DELIVERY_DUE)
    return delivery_queue.take_due(
        session, DailyFileDelivery, due, lease=lease, limit=limit, now=now or utcnow()
    )


def redeliver(
    session: Session, delivery: DailyFileDelivery, *, now: dt.datetime | None = None
) -> None:
    """Send the file to that target again, by hand (support, or the Ente's operator): a new
    round of attempts through the outbox. Refused while it is being sent."""
    now = now or utcnow()
    session.flush()
    session.refresh(delivery, with_for_update=True)
    if delivery.status == "sending" and delivery.lease_until and delivery.lease_until > now:
        raise Conflict("the file is being delivered right now", code="sending")
    delivery.status, delivery.attempts, delivery.lease_until = "pending", 0, None
    delivery.next_attempt_at = now + dt.timedelta(minutes=5)  # the sweep's safety net
    delivery.replays += 1
    outbox.enqueue(session, actor_names.DELIVER_DAILY_FILE, delivery_id=delivery.id)


def deliveries_of(session: Session, ente_id: int, *, limit: int = 100) -> list[DailyFileDelivery]:
    """An Ente's deliveries, newest first, each with its attempts loaded (the dashboard shows
    failed ones first, and every attempt: when, where, size, hash, outcome)."""
    return list(
        session.scalars(
            sa.select(DailyFileDelivery)
            .where(DailyFileDelivery.ente_id == ente_id)
            .options(selectinload(DailyFileDelivery.attempt_log))
            .order_by(DailyFileDelivery.id.desc())
            .limit(limit)
        )
    )


def given_up(
    session: Session, *, limit: int = 200
) -> list[tuple[DailyFileDelivery, DailyFile, Ente]]:
    """The dead letters: every delivery given up, whatever its day (a late receipt's version
    may die days after the day's first file was delivered), newest first, with its file and
    Ente, for support to deliver again."""
    rows = session.execute(
        sa.select(DailyFileDelivery, DailyFile, Ente)
        .join(DailyFile, DailyFile.id == DailyFileDelivery.file_id)
        .join(Ente, Ente.id == DailyFileDelivery.ente_id)
        .where(DailyFileDelivery.status == "dead")
        .order_by(DailyFileDelivery.id.desc())
        .limit(limit)
    )
    return [(d, f, e) for d, f, e in rows]


@dataclass(frozen=True)
class Missing:
    """An Ente with somewhere to deliver that did not receive a day's files, and why."""

    ente_id: int
    ente_fiscal_code: str
    ente_name: str
    reason: str  # "no file", "dead", "retrying", "pending", "sending"


def undelivered_enti(session: Session, day: dt.date) -> list[Missing]:
    """Enti with an enabled target that did not receive ``day``'s files: no file was built, or
    one of its latest versions' deliveries (the latest real and the latest test version of
    each service) is not delivered (its worst status is the reason)."""
    rank = {"dead": 0, "retrying": 1, "sending": 2, "pending": 3}
    enti = session.execute(
        sa.select(Ente.id, Ente.fiscal_code, Ente.name)
        .where(
            Ente.id.in_(sa.select(DailyFileTarget.ente_id).where(DailyFileTarget.enabled.is_(True)))
        )
        .order_by(Ente.fiscal_code)
    ).all()
    missing = []
    for ente_id, fiscal_code, name in enti:
        versions = sa.select(
            DailyFile.service_code, sa.func.max(DailyFile.version).label("version")
        ).where(DailyFile.ente_id == ente_id, DailyFile.business_date == day)
        # the newest real file of each service, and the newest test file (hub.dailyfile.files)
        newest = versions.group_by(DailyFile.service_code, DailyFile.test).subquery()
        latest_ids = (
            sa.select(DailyFile.id)
            .join(
                newest,
                sa.and_(
                    DailyFile.service_code == newest.c.service_code,
                    DailyFile.version == newest.c.version,
                ),
            )
            .where(DailyFile.ente_id == ente_id, DailyFile.business_date == day)
        )
        ids = list(session.scalars(latest_ids))
        if not ids:
            missing.append(Missing(ente_id, fiscal_code, name, "no file"))
            continue
        statuses = set(
            session.scalars(
                sa.select(DailyFileDelivery.status).where(
                    DailyFileDelivery.file_id.in_(ids), DailyFileDelivery.status != "delivered"
                )
            )
        )
        if statuses:
            worst = min(statuses, key=lambda s: rank.get(s, 9))
            missing.append(Missing(ente_id, fiscal_code, name, worst))
    return missing
