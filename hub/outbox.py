"""Transactional outbox: follow-up work is written as rows in the business transaction.

hub/ never talks to the broker. ``enqueue`` adds an OutboxMessage to the session; actors/
relays the rows after the transaction commits (``pending_after_commit``) and a periodic sweeper
re-sends anything left unsent, so a crash between commit and send, or a broker that is down,
delays a message but never loses it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.db import utcnow
from hub.models import OutboxMessage

PENDING_KEY = "outbox_pending"


def enqueue(session: Session, actor_name: str, *, queue_name: str = "default",
            **kwargs: Any) -> OutboxMessage:
    """Add a message for ``actor_name(**kwargs)`` to the current transaction.

    The message exists only if the transaction commits. ``kwargs`` must be JSON: send ids,
    never objects.
    """
    row = OutboxMessage(
        message_id=str(uuid.uuid4()), queue_name=queue_name, actor_name=actor_name, args=kwargs
    )
    session.add(row)
    session.info.setdefault(PENDING_KEY, []).append(row)
    return row


def take_pending(session: Session) -> list[dict[str, Any]]:
    """Return (and forget) the messages the session wrote, as plain dicts, after a commit.

    Rows added inside a savepoint that was rolled back are no longer persistent (SQLAlchemy
    expunges them): they never existed, and are left out.
    """
    rows = session.info.pop(PENDING_KEY, [])
    return [message_dict(r) for r in rows if sa.inspect(r).persistent]


def forget_pending(session: Session) -> None:
    """The transaction rolled back: its messages never existed."""
    session.info.pop(PENDING_KEY, None)


def message_dict(row: OutboxMessage) -> dict[str, Any]:
    return {
        "id": row.id,
        "message_id": row.message_id,
        "queue_name": row.queue_name,
        "actor_name": row.actor_name,
        "args": dict(row.args),
    }


def unsent(session: Session, *, older_than: dt.timedelta, limit: int = 500) -> list[dict[str, Any]]:
    """Messages committed more than ``older_than`` ago and still not marked sent."""
    cutoff = utcnow() - older_than
    rows = session.scalars(
        sa.select(OutboxMessage)
        .where(OutboxMessage.sent_at.is_(None), OutboxMessage.created_at <= cutoff)
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    return [message_dict(r) for r in rows]


def mark_sent(session: Session, ids: list[int]) -> None:
    if ids:
        session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids))
            .values(sent_at=utcnow(), attempts=OutboxMessage.attempts + 1)
        )


def mark_failed(session: Session, row_id: int, error: str) -> None:
    session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id == row_id)
        .values(attempts=OutboxMessage.attempts + 1, last_error=error[:500])
    )
