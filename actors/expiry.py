"""Expiry: options past their retention date become expired, through the state machine.

``expire_overdue_options`` expires one chunk per message, set-based (hub.payments.setbased:
the chunk's options locked in id order, the machine asked once per (state, retention date),
one UPDATE, the history rows and follow-up messages written in bulk) and, if the chunk was
full, writes the message for the next chunk in the same transaction. It is idempotent: the
machine decides on the locked rows, so a redelivered message or a concurrent payment changes
nothing twice. The scheduler enqueues it daily and at startup (``actors.scheduler``).
"""

from __future__ import annotations

import datetime as dt

import dramatiq
import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from actors.middleware import current_session
from hub import actor_names, clock, outbox, payments
from hub.db import utcnow
from hub.models import PaymentOption
from hub.payments import setbased

log = structlog.get_logger(__name__)
ACTOR = actor_names.EXPIRE_OVERDUE_OPTIONS
CHUNK = setbased.CHUNK  # a few seconds of work, set-based
EXPIRABLE = payments.EXPIRABLE  # the states from which the machine allows "expire"


def expire_chunk(
    session: Session, *, now: dt.datetime | None = None, chunk: int = CHUNK
) -> tuple[int, bool]:
    """Expire up to ``chunk`` overdue options; return (how many, whether more may be left).

    "Overdue" is the state machine's own guard: retention date before today (UTC), as
    paVerifyPaymentNotice judges it."""
    now = now or utcnow()
    ids = session.scalars(
        sa.select(PaymentOption.id)
        .where(
            PaymentOption.status.in_(EXPIRABLE),
            PaymentOption.retention_date.is_not(None),
            PaymentOption.retention_date < clock.business_date(now),
        )
        .order_by(PaymentOption.id)
        .limit(chunk)
    ).all()
    expired = setbased.fire_many(session, ids, "expire", cause=f"actor:{ACTOR}", now=now)
    return len(expired), len(ids) == chunk


@dramatiq.actor(
    actor_name=ACTOR, max_retries=5, min_backoff=10_000, max_backoff=600_000, time_limit=10 * 60_000
)
def expire_overdue_options(chunk: int = CHUNK) -> None:
    """Expire one chunk; queue the next one (through the outbox) while chunks come back full."""
    session = current_session()
    expired, more = expire_chunk(session, chunk=chunk)
    if more:
        outbox.enqueue(session, ACTOR, chunk=chunk)
    log.info("options.expired", count=expired, more=more)
