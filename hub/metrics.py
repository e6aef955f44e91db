"""The platform's figures at a glance, read from PostgreSQL and Redis when asked.

One function, ``collect``, reads everything ``/metrics``, ``/health`` and ``payhub status``
show: the outbox backlog, webhook deliveries by state, receipts per minute, the station's
answer times (the SLA recorder's ``sla_minute`` rows) and the Dramatiq queues in Redis. Every
web process and the CLI compute the same numbers from the shared stores, so a scrape that
lands on any web worker process answers the same.

The queries are the few small functions below; what "unfinished" means for an outbox row is
decided in ``_outbox_open`` alone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.config import Config, as_config
from hub.db import utcnow
from hub.models import OutboxMessage
from hub.models.receipts import Receipt
from hub.models.sla import HISTOGRAM_BOUNDS, SlaMinute
from hub.models.webhooks import WebhookDelivery

DEFAULT_MAX_BACKLOG = 1000
DEFAULT_MAX_AGE_SECONDS = 300
RECEIPT_WINDOW_MINUTES = 5
STATION_WINDOW_MINUTES = 5
SLA_THRESHOLD_SECONDS = 2.0
DEAD_LISTED = 10


@dataclass
class OperationTimes:
    """paForNode answers of one operation over the window (finished minutes)."""

    count: int
    mean_seconds: float
    max_seconds: float
    within_threshold_ratio: float  # answered within 2 s, 0..1
    p98_seconds: float | None  # the histogram bucket's upper bound (None: beyond the last one)


@dataclass
class Status:
    outbox_backlog: int
    outbox_oldest_age_seconds: float
    outbox_dead: int
    deliveries: dict[str, int]
    deliveries_oldest_undelivered_age_seconds: float
    receipts_per_minute: float
    receipts_window_minutes: int
    station: dict[str, OperationTimes]
    station_window_minutes: int
    queues: dict[str, dict[str, int]] | None  # None: no Redis broker (embedded stub)
    errors: list[str] = field(default_factory=list)
    # sending leases that ran out (an attempt of unknown outcome: the event may come twice)
    deliveries_expired_claims: int = 0
    # the newest dead outbox messages (id, actor, attempts, error, since), for support
    outbox_dead_messages: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _outbox_open() -> Any:
    """Outbox rows whose work is not done yet: not recorded by their consumer
    (``processed_at``) nor given up (``dead_at``: counted apart, see ``outbox_dead``)."""
    return sa.and_(OutboxMessage.processed_at.is_(None), OutboxMessage.dead_at.is_(None))


def outbox_backlog(session: Session, now: dt.datetime) -> tuple[int, float]:
    """How many outbox rows are open, and the age in seconds of the oldest (0: none)."""
    count, oldest = session.execute(
        sa.select(sa.func.count(), sa.func.min(OutboxMessage.created_at)).where(_outbox_open())
    ).one()
    return int(count), _age(now, oldest)


def outbox_dead(session: Session) -> int:
    """Outbox rows given up after their attempt cap and not processed since (support lists
    and sends them again); they are not part of the backlog."""
    return int(
        session.scalar(
            sa.select(sa.func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.dead_at.is_not(None), OutboxMessage.processed_at.is_(None))
        )
        or 0
    )


def outbox_dead_messages(session: Session, limit: int = DEAD_LISTED) -> list[dict[str, Any]]:
    """The newest dead outbox messages, as ``payhub status`` lists them."""
    from hub import outbox

    return [
        {
            "id": row.id,
            "actor_name": row.actor_name,
            "attempts": row.attempts,
            "last_error": row.last_error,
            "dead_at": row.dead_at.isoformat() if row.dead_at else None,
        }
        for row in outbox.dead(session, limit=limit)
    ]


def expired_claims(session: Session) -> int:
    """Webhook sending leases that expired, over every delivery (each an attempt of unknown
    outcome: the receiver may have had the event twice, with the same event id)."""
    return int(
        session.scalar(sa.select(sa.func.coalesce(sa.func.sum(WebhookDelivery.expired_claims), 0)))
        or 0
    )


def deliveries_by_state(session: Session, now: dt.datetime) -> tuple[dict[str, int], float]:
    """Webhook deliveries per status, and the age of the oldest one not delivered nor dead."""
    counts = {
        status: int(n)
        for status, n in session.execute(
            sa.select(WebhookDelivery.status, sa.func.count()).group_by(WebhookDelivery.status)
        )
    }
    oldest = session.scalar(
        sa.select(sa.func.min(WebhookDelivery.created_at)).where(
            WebhookDelivery.status.not_in(("delivered", "dead"))
        )
    )
    return counts, _age(now, oldest)


def receipts_per_minute(
    session: Session, now: dt.datetime, minutes: int = RECEIPT_WINDOW_MINUTES
) -> float:
    """Receipts received over the last ``minutes`` minutes, per minute."""
    count = session.scalar(
        sa.select(sa.func.count())
        .select_from(Receipt)
        .where(Receipt.received_at > now - dt.timedelta(minutes=minutes))
    )
    return round(int(count or 0) / minutes, 2)


def station_times(
    session: Session, now: dt.datetime, minutes: int = STATION_WINDOW_MINUTES
) -> dict[str, OperationTimes]:
    """Answer times per paForNode operation over the last ``minutes`` minutes, added up over
    every web process's ``sla_minute`` rows."""
    since = now.replace(second=0, microsecond=0) - dt.timedelta(minutes=minutes)
    rows = session.execute(
        sa.select(
            SlaMinute.operation,
            SlaMinute.count,
            SlaMinute.over_threshold,
            SlaMinute.total_seconds,
            SlaMinute.max_seconds,
            SlaMinute.histogram,
        ).where(SlaMinute.minute >= since)
    )
    sums: dict[str, dict[str, Any]] = {}
    for op, count, over, total, top, histogram in rows:
        s = sums.setdefault(
            op,
            {
                "count": 0,
                "over": 0,
                "total": 0.0,
                "max": 0.0,
                "histogram": [0] * (len(HISTOGRAM_BOUNDS) + 1),
            },
        )
        s["count"] += count
        s["over"] += over
        s["total"] += total
        s["max"] = max(s["max"], top)
        for i, n in enumerate(histogram or []):
            if i < len(s["histogram"]):
                s["histogram"][i] += n
    result = {}
    for op, s in sorted(sums.items()):
        if not s["count"]:
            continue
        result[op] = OperationTimes(
            count=s["count"],
            mean_seconds=round(s["total"] / s["count"], 6),
            max_seconds=round(s["max"], 6),
            within_threshold_ratio=round(1 - s["over"] / s["count"], 6),
            p98_seconds=_quantile_bound(s["histogram"], s["count"], 0.98),
        )
    return result


def _quantile_bound(histogram: list[int], count: int, q: float) -> float | None:
    seen = 0
    for bound, n in zip(HISTOGRAM_BOUNDS, histogram, strict=False):
        seen += n
        if seen >= q * count:
            return bound
    return None


def queue_lengths(client: Any, namespace: str, queues: list[str]) -> dict[str, dict[str, int]]:
    """Messages of each Dramatiq queue in Redis: waiting to be taken (ready), taken and not
    acknowledged yet (in_flight), waiting for their retry time (delayed), dead-lettered."""
    result = {}
    pipe = client.pipeline(transaction=False)
    for q in queues:
        key = f"{namespace}:{q}"
        pipe.llen(key)
        pipe.hlen(f"{key}.msgs")
        pipe.hlen(f"{key}.DQ.msgs")
        pipe.zcard(f"{key}.XQ")
    answers = pipe.execute()
    for i, q in enumerate(queues):
        ready, held, delayed, dead = answers[4 * i : 4 * i + 4]
        result[q] = {
            "ready": int(ready),
            "in_flight": max(int(held) - int(ready), 0),
            "delayed": int(delayed),
            "dead": int(dead),
        }
    return result


def broker_queues(broker: Any) -> tuple[Any, str, list[str]] | None:
    """(Redis client, namespace, canonical queue names) of a RedisBroker; None for the stub."""
    client = getattr(broker, "client", None)
    if client is None:
        return None
    names = sorted(q for q in broker.get_declared_queues() if not q.endswith((".DQ", ".XQ")))
    return client, broker.namespace, names


def collect(session: Session, broker: Any = None, *, now: dt.datetime | None = None) -> Status:
    """Every figure at once. A Redis that does not answer leaves ``queues`` empty and says so
    in ``errors``; the database is the source of truth and must answer."""
    now = now or utcnow()
    backlog, oldest = outbox_backlog(session, now)
    deliveries, oldest_delivery = deliveries_by_state(session, now)
    status = Status(
        outbox_backlog=backlog,
        outbox_oldest_age_seconds=oldest,
        outbox_dead=outbox_dead(session),
        deliveries=deliveries,
        deliveries_oldest_undelivered_age_seconds=oldest_delivery,
        receipts_per_minute=receipts_per_minute(session, now),
        receipts_window_minutes=RECEIPT_WINDOW_MINUTES,
        station=station_times(session, now),
        station_window_minutes=STATION_WINDOW_MINUTES,
        queues=None,
        deliveries_expired_claims=expired_claims(session),
        outbox_dead_messages=outbox_dead_messages(session),
    )
    target = broker_queues(broker) if broker is not None else None
    if target is not None:
        try:
            status.queues = queue_lengths(*target)
        except Exception as exc:  # Redis down: the rest of the figures still stand
            status.queues = {}
            status.errors.append(f"redis: {type(exc).__name__}")
    return status


def backlog_problems(count: int, oldest_age: float, settings: Config | Any) -> list[str]:
    """Why the outbox backlog counts as degraded (empty: it does not): more messages than
    ``payhub.health_outbox_max_backlog`` (1000) or an oldest one older than
    ``payhub.health_outbox_max_age_seconds`` (300)."""
    config = as_config(settings)
    max_backlog = config.health_outbox_max_backlog
    max_age = config.health_outbox_max_age_seconds
    problems = []
    if count > max_backlog:
        problems.append(f"outbox backlog {count} > {max_backlog}")
    if oldest_age > max_age:
        problems.append(f"oldest outbox message {oldest_age:.0f} s old > {max_age:.0f} s")
    return problems


def _age(now: dt.datetime, then: dt.datetime | None) -> float:
    if then is None:
        return 0.0
    if then.tzinfo is None:
        then = then.replace(tzinfo=dt.UTC)
    return round(max((now - then).total_seconds(), 0.0), 3)
