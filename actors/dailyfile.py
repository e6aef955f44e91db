"""The daily file's actors: build the files of a day, deliver one file to one target.

``build_daily_files()`` (the scheduler, at ``payhub.daily_file_at`` Europe/Rome) takes
yesterday's business day and sends, through the outbox, one ``build_daily_files(day, ente_id)``
per Ente with payments or a delivery target, and one per earlier day of an Ente that a receipt
arriving yesterday was late for (a new version of that day); that one builds the Ente's files in
its unit of work, which also writes their deliveries and their outbox messages
(``deliver_daily_file``).
Any past day is built the same way on demand (``payhub daily-file build``, the dashboard).

``deliver_daily_file(delivery_id)`` claims the delivery (a lease, committed), transfers
outside any transaction, and records the attempt in a transaction of its own. A failure is
retried after an exponential backoff (``payhub.daily_file_min_backoff_ms`` doubling up to
``payhub.daily_file_max_backoff_ms``), ``payhub.daily_file_max_retries`` times, then the delivery
is dead for support. The delayed message is a shortcut: ``sweep_due`` (a scheduler job every
``payhub.daily_file_sweep_seconds``) sends every delivery whose retry time or lease has come.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import dramatiq
import structlog

from actors.middleware import current_factory, current_session, current_settings
from actors.retry import RetryPolicy
from hub import actor_names, clock
from hub.config import Config
from hub.dailyfile import delivery, files, transports
from hub.db import utcnow
from hub.models import Ente

log = structlog.get_logger(__name__)
QUEUE = files.QUEUE


def retry_policy(settings: Config | dict[str, Any]) -> RetryPolicy:
    """The delivery retry policy of ``payhub.daily_file_*`` (a transfer may take minutes)."""
    return RetryPolicy.from_settings(settings, "daily_file", lease_slack_seconds=60)


def yesterday() -> dt.date:
    return clock.today() - dt.timedelta(days=1)


@dramatiq.actor(
    actor_name=actor_names.BUILD_DAILY_FILES,
    queue_name=QUEUE,
    max_retries=5,
    min_backoff=30_000,
    max_backoff=1_800_000,
    time_limit=60 * 60_000,
)
def build_daily_files(day: str | None = None, ente_id: int | None = None) -> None:
    """Build ``day``'s files (ISO date; default yesterday) of ``ente_id``, or send one build
    per Ente of that day."""
    session = current_session()
    business_day = dt.date.fromisoformat(day) if day else yesterday()
    if ente_id is None:
        enti = files.enti_of_day(session, business_day)
        late = 0
        for one in enti:
            files.queue_build(session, one, business_day)
            # earlier days with a receipt that arrived today: their files again (new versions)
            for earlier in files.late_days(session, one, business_day):
                files.queue_build(session, one, earlier)
                late += 1
        log.info(
            "daily_file.day_started", day=business_day.isoformat(), enti=len(enti), late_days=late
        )
        return
    ente = session.get(Ente, ente_id)
    if ente is None:
        return
    directory = Path(current_settings().daily_file_dir)
    for file, new in files.build_day(session, ente, business_day, directory):
        log.info(
            "daily_file.built" if new else "daily_file.unchanged",
            ente_id=ente_id,
            day=business_day.isoformat(),
            service=file.service_code,
            version=file.version,
            payments=file.payments,
            sha256=file.sha256,
        )


@dramatiq.actor(
    actor_name=actor_names.DELIVER_DAILY_FILE,
    queue_name=QUEUE,
    max_retries=10,  # a database or broker error, not the receiver's answer
    min_backoff=5_000,
    max_backoff=600_000,
    time_limit=30 * 60_000,
    unit_of_work=False,
)
def deliver_daily_file(delivery_id: int) -> None:
    """Make one attempt at delivering the file."""
    config = current_settings()
    policy = retry_policy(config)
    structlog.contextvars.bind_contextvars(daily_file_delivery=delivery_id)
    own = current_factory()
    with own.begin() as session:
        claimed = delivery.claim(
            session, delivery_id, lease=policy.lease, max_attempts=policy.max_retries + 1
        )
    if claimed is None:
        return  # finished, not due yet, or held by another run (the sweep covers a dead one)
    started, watch = utcnow(), time.monotonic()
    error: str | None = None
    done = ""
    try:
        done = transports.deliver(
            claimed.target, claimed.parcel, config, timeout=policy.timeout_seconds
        )
    except transports.DeliveryError as exc:
        error = str(exc)
    except Exception as exc:  # a bug in a transport: recorded, retried, never a lost file
        error = f"unexpected {type(exc).__name__}"
        log.exception("daily_file.transport_failed")
    with own.begin() as session:
        row = delivery.record(
            session,
            delivery_id,
            started=started,
            duration_ms=int((time.monotonic() - watch) * 1000),
            error=error,
            max_attempts=policy.max_retries + 1,
            backoff=policy.backoff,
        )
        status, attempts = row.status, row.attempts
    log.info(
        "daily_file.attempt",
        status=status,
        attempts=attempts,
        where=claimed.target.where,
        size=claimed.parcel.size,
        sha256=claimed.parcel.sha256,
        done=done or None,
        error=error,
    )
    if status == "retrying":  # a shortcut to the due time; the row is the durable copy
        deliver_daily_file.send_with_options(
            kwargs={"delivery_id": delivery_id}, delay=policy.backoff_ms(attempts)
        )


def sweep_due(broker: dramatiq.Broker, factory: Any, *, lease: dt.timedelta) -> int:
    """Send every delivery that is due (hub.dailyfile.delivery.take_due); return how many."""
    actor = broker.get_actor(actor_names.DELIVER_DAILY_FILE)
    with factory.begin() as session:
        ids = delivery.take_due(session, lease=lease)
    for delivery_id in ids:
        actor.send(delivery_id=delivery_id)  # lost? due again after the lease
    if ids:
        log.info("daily_file.swept", sent=len(ids))
    return len(ids)
