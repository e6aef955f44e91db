"""The transactional outbox: messages written with the business change, relayed after commit."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, JSONType, UTCDateTime, utcnow

UNSENT = "lease_until IS NULL AND last_error IS NULL AND processed_at IS NULL AND dead_at IS NULL"


class OutboxMessage(Base):
    """A Dramatiq message to send once the transaction that wrote it has committed.

    ``message_id`` becomes the Dramatiq message id, so a message re-sent by the sweeper is the
    same message to the consumer, which records it in ProcessedMessage to act on it once.

    The row is finished when its consumer recorded it (``processed_at``, written in the actor's
    own transaction), not when Redis accepted it: until then the sweeper sends it again each
    time ``lease_until`` passes, so a Redis that lost its queues is refilled from here. After
    ``payhub.outbox_max_attempts`` sends it is given up (``dead_at``) and listed for support.
    """

    __tablename__ = "outbox_message"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(sa.String(36), unique=True)
    queue_name: Mapped[str] = mapped_column(sa.String(64), default="default")
    actor_name: Mapped[str] = mapped_column(sa.String(64))
    args: Mapped[dict] = mapped_column(JSONType)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(default=0)  # sends so far
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # sent: re-send after
    processed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # consumer recorded it
    dead_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # given up after the cap

    __table_args__ = (
        # the sweeper's query: the open rows (neither processed nor dead), oldest first
        sa.Index(
            "ix_outbox_message_open",
            "id",
            postgresql_where=sa.text("processed_at IS NULL AND dead_at IS NULL"),
            sqlite_where=sa.text("processed_at IS NULL AND dead_at IS NULL"),
        ),
        # the relay loop's query (hub.outbox.unsent): the rows never sent, a few at any time
        sa.Index(
            "ix_outbox_message_unsent",
            "id",
            postgresql_where=sa.text(UNSENT),
            sqlite_where=sa.text(UNSENT),
        ),
    )


class ProcessedMessage(Base):
    """Message ids an actor has already acted on (at-least-once delivery, effect once)."""

    __tablename__ = "processed_message"

    message_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    actor_name: Mapped[str] = mapped_column(sa.String(64))
    processed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
