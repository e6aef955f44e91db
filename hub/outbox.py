"""Transactional outbox: follow-up work is written as rows in the business transaction.

hub/ never talks to the broker. ``enqueue`` adds an OutboxMessage to the session; actors/
relays the rows after the transaction commits (``take_pending``) and a periodic sweeper sends
anything not yet processed: never sent, or sent and not recorded by its consumer within a lease.
A crash between commit and send, a broker that is down, or a Redis that restarts empty delays a
message but never loses it; the consumer's duplicate check keeps the effect single.

A row's life: written (``sent_at`` NULL) -> sent (``lease_until``) -> processed (the actor's
transaction sets ``processed_at``), or dead after ``max_attempts`` sends (``dead_at``), which
support sees and can ``revive``. A row the relay sends right after its commit is written
already sent and leased (``lease_pending``): the commit is the only write it needs. Processed
rows, and the consumers' ``processed_message`` records, are deleted after a retention period
(``purge_processed``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session, make_transient_to_detached

from hub.db import utcnow
from hub.models import OutboxMessage, ProcessedMessage

PENDING_KEY = "outbox_pending"
# set in ``session.info`` by the relay (actors.outbox.install_relay): what ``lease_pending``
# gives a row it sends right after the commit (a callable returning the lease, or None)
LEASE_KEY = "outbox_lease"
# set in ``session.info`` by ``defer``: the session's messages are left to the relay loop
DEFER_KEY = "outbox_deferred"
CHUNK = 1000  # ids per IN (...): far below PostgreSQL's 65,535 parameters
MAX_LEASE_DOUBLINGS = 5


def enqueue(
    session: Session, actor_name: str, *, queue_name: str = "default", **kwargs: Any
) -> OutboxMessage:
    """Add a message for ``actor_name(**kwargs)`` to the current transaction.

    The message exists only if the transaction commits. ``kwargs`` must be JSON: send ids,
    never objects.
    """
    row = OutboxMessage(
        message_id=str(uuid.uuid4()), queue_name=queue_name, actor_name=actor_name, args=kwargs
    )
    session.add(row)
    _track(session, row)
    return row


def defer(session: Session) -> None:
    """Leave the messages ``session`` writes to the relay loop (``unsent``, sent in batches by
    the scheduler within ``payhub.outbox_relay_seconds``) rather than to the send after its
    commit: they are written never sent, and the process that wrote them never waits on
    the broker. For a hot path whose follow-ups can wait a fraction of a second."""
    session.info[DEFER_KEY] = True


def _track(session: Session, row: Any) -> None:
    """Hand ``row`` to the send after the commit, unless the session defers its messages."""
    if not session.info.get(DEFER_KEY):
        session.info.setdefault(PENDING_KEY, []).append(row)


def enqueue_written(
    session: Session,
    actor_name: str,
    *,
    now: dt.datetime,
    queue_name: str = "default",
    **kwargs: Any,
) -> OutboxMessage:
    """``enqueue``, the row written at once by one prebuilt INSERT (PostgreSQL) instead of at
    the flush: for a hot path that otherwise leaves the unit of work nothing to write. The
    row is written as ``lease_pending`` would leave it (leased if the session's relay says
    how long), and is then persistent in ``session`` with nothing to flush; the relay sends
    it after the commit as any other."""
    values = written_values(session, actor_name, now=now, queue_name=queue_name, **kwargs)
    row_id = session.execute(_OUTBOX_INSERT, values).scalar_one()
    return adopt_written(session, row_id, values)


def written_values(
    session: Session,
    actor_name: str,
    *,
    now: dt.datetime,
    queue_name: str = "default",
    **kwargs: Any,
) -> dict[str, Any]:
    """The columns of a message that the caller writes with a statement of its own (as
    ``enqueue_written`` does, leased if the session's relay says how long); once written,
    ``adopt_written`` hands the row to the relay."""
    lease = None if session.info.get(DEFER_KEY) else session.info.get(LEASE_KEY)
    length = lease() if lease is not None else None
    return {
        "message_id": str(uuid.uuid4()),
        "queue_name": queue_name,
        "actor_name": actor_name,
        "args": kwargs,
        "created_at": now,
        "sent_at": now if length is not None else None,
        "lease_until": now + length if length is not None else None,
        "attempts": 1 if length is not None else 0,
    }


def adopt_written(session: Session, row_id: int, values: dict[str, Any]) -> OutboxMessage:
    """The row a caller wrote from ``written_values`` (its id ``row_id``): persistent in
    ``session`` with nothing to flush, sent by the relay after the commit as any other."""
    row = OutboxMessage(id=row_id, last_error=None, processed_at=None, dead_at=None, **values)
    make_transient_to_detached(row)  # the row as written: persistent, nothing to flush
    session.add(row)
    _track(session, row)
    return row


@dataclass(frozen=True)
class CommittedMessage:
    """A message whose row a statement of its own transaction wrote and committed
    (``adopt_committed``): what the relay reads of a row, without the ORM object."""

    id: int
    message_id: str
    queue_name: str
    actor_name: str
    args: dict[str, Any]


def adopt_committed(session: Session, row_id: int, values: dict[str, Any]) -> CommittedMessage:
    """The row a caller wrote from ``written_values`` (its id ``row_id``) and committed
    already, apart from ``session``: sent by the relay after the session's commit, as the
    session's own messages are (the sweeper sends it if the session rolls back instead)."""
    message = CommittedMessage(
        row_id, values["message_id"], values["queue_name"], values["actor_name"], values["args"]
    )
    _track(session, message)
    return message


_OUTBOX_TABLE = cast(sa.Table, OutboxMessage.__table__)
_OUTBOX_INSERT = sa.insert(_OUTBOX_TABLE).returning(_OUTBOX_TABLE.c.id)


def lease_pending(session: Session, *, lease: dt.timedelta, now: dt.datetime | None = None) -> None:
    """Write the session's new messages already leased (sent once, ``lease`` long), as the
    relay that sends them right after the commit would mark them: the business transaction
    then carries the whole record and no second transaction is needed after the send. If the
    send fails, ``release`` undoes the lease; if the process dies before sending, the sweeper
    sends them when the lease ends. Only rows not yet written are touched."""
    rows = session.info.get(PENDING_KEY)
    if not rows:
        return
    now = now or utcnow()
    for row in rows:
        if isinstance(row, CommittedMessage):  # written already, as leased as it will be
            continue
        state = sa.inspect(row)
        if row.lease_until is None and (state.transient or state.pending):
            row.sent_at, row.lease_until, row.attempts = now, now + lease, 1


def enqueue_chunks(
    session: Session,
    actor_name: str,
    key: str,
    ids: Sequence[int],
    *,
    relay: bool = True,
    size: int = CHUNK,
    queue_name: str = "default",
    **kwargs: Any,
) -> int:
    """One message per chunk of ``size`` ids, ``actor_name(**kwargs, <key>=[ids...])``, for a
    consumer that takes a chunk (set-based work on thousands of rows: a hundred messages, not
    a hundred thousand). The messages have ``enqueue``'s guarantees; ``relay=False`` leaves
    them to the sweeper instead of the relay after the commit. Returns how many were
    written."""
    written = 0
    for start in range(0, len(ids), size):
        args = {**kwargs, key: [int(i) for i in ids[start : start + size]]}
        if relay:
            enqueue(session, actor_name, queue_name=queue_name, **args)
        else:
            session.add(
                OutboxMessage(
                    message_id=str(uuid.uuid4()),
                    queue_name=queue_name,
                    actor_name=actor_name,
                    args=args,
                )
            )
        written += 1
    return written


def take_pending(session: Session) -> list[dict[str, Any]]:
    """Return (and forget) the messages the session wrote, as plain dicts, after a commit.

    Rows added inside a savepoint that was rolled back are no longer persistent (SQLAlchemy
    expunges them): they never existed, and are left out.
    """
    rows = session.info.pop(PENDING_KEY, [])
    return [
        message_dict(r) for r in rows if isinstance(r, CommittedMessage) or sa.inspect(r).persistent
    ]


def forget_pending(session: Session) -> None:
    """The transaction rolled back: its messages never existed."""
    session.info.pop(PENDING_KEY, None)


def message_dict(row: OutboxMessage | CommittedMessage) -> dict[str, Any]:
    return {
        "id": row.id,
        "message_id": row.message_id,
        "queue_name": row.queue_name,
        "actor_name": row.actor_name,
        "args": dict(row.args),
    }


def due(
    session: Session,
    *,
    older_than: dt.timedelta,
    after_id: int = 0,
    limit: int = 500,
    now: dt.datetime | None = None,
    unsent: bool = True,
) -> list[dict[str, Any]]:
    """Open messages the sweeper must send, by id after ``after_id`` (keyset paging): never
    sent and committed more than ``older_than`` ago, or sent and not processed by the end of
    their lease (Redis lost them, or nobody has got to them yet). ``unsent=False``: of the
    never sent, only those a send refused (``last_error``): the others are the relay loop's
    (``unsent``), which runs beside the sweeper."""
    now = now or utcnow()
    never_sent = sa.and_(
        OutboxMessage.lease_until.is_(None), OutboxMessage.created_at <= now - older_than
    )
    if not unsent:
        never_sent = sa.and_(never_sent, OutboxMessage.last_error.is_not(None))
    rows = session.scalars(
        sa.select(OutboxMessage)
        .where(
            _open(),
            OutboxMessage.id > after_id,
            sa.or_(never_sent, OutboxMessage.lease_until <= now),
        )
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    return [message_dict(r) | {"attempts": r.attempts} for r in rows]


def _unsent() -> sa.ColumnElement[bool]:
    """Never sent and never refused (``last_error``: left to the sweeper's pace), open.
    The partial index ``ix_outbox_message_unsent`` holds exactly these rows."""
    return sa.and_(
        OutboxMessage.lease_until.is_(None),
        OutboxMessage.last_error.is_(None),
        OutboxMessage.processed_at.is_(None),
        OutboxMessage.dead_at.is_(None),
    )


def unsent(session: Session, *, limit: int = 500) -> list[dict[str, Any]]:
    """The oldest messages never sent (at most ``limit``), locked for the caller's transaction;
    rows another relay holds are skipped, not waited for. The relay loop sends them and marks
    them with ``mark_sent`` in the same transaction (PostgreSQL; SQLite has no row locks:
    its one writer at a time is the lock)."""
    statement = sa.select(
        OutboxMessage.id,
        OutboxMessage.message_id,
        OutboxMessage.queue_name,
        OutboxMessage.actor_name,
        OutboxMessage.args,
    ).where(_unsent())
    statement = statement.order_by(OutboxMessage.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    return [dict(row._mapping) for row in session.execute(statement)]


def _open() -> sa.ColumnElement[bool]:
    return sa.and_(OutboxMessage.processed_at.is_(None), OutboxMessage.dead_at.is_(None))


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def mark_sent(session: Session, sent: list[dict[str, Any]], *, lease: dt.timedelta) -> None:
    """Record that Redis took ``sent`` (message dicts): each is sent again if its consumer has
    not recorded it when its lease ends. The lease doubles with each send (up to 32 times), so
    a long backlog is not flooded with copies. Rows an actor is finishing right now (locked)
    are skipped rather than waited for: this runs after a web request's commit."""
    now = utcnow()
    by_factor: dict[int, list[int]] = {}
    for message in sent:
        factor = 2 ** min(int(message.get("attempts", 0)), MAX_LEASE_DOUBLINGS)
        by_factor.setdefault(factor, []).append(message["id"])
    for factor, ids in by_factor.items():
        for chunk in _chunks(ids):
            free = (
                sa.select(OutboxMessage.id)
                .where(OutboxMessage.id.in_(chunk), OutboxMessage.processed_at.is_(None))
                .with_for_update(skip_locked=True)
            )
            session.execute(
                sa.update(OutboxMessage)
                .where(OutboxMessage.id.in_(free.scalar_subquery()))
                .values(
                    sent_at=now,
                    lease_until=now + lease * factor,
                    attempts=OutboxMessage.attempts + 1,
                    last_error=None,
                ),
                execution_options={"synchronize_session": False},
            )


def mark_failed(session: Session, row_id: int, error: str) -> None:
    """Redis refused the message: say why; the sweeper tries again (not counted as a send)."""
    session.execute(
        sa.update(OutboxMessage).where(OutboxMessage.id == row_id).values(last_error=error[:500])
    )


def release(session: Session, row_id: int, error: str) -> None:
    """A message written leased (``lease_pending``) that Redis refused after the commit: it
    is not sent after all, so the sweeper sends it once its grace has passed; say why."""
    session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id == row_id, OutboxMessage.processed_at.is_(None))
        .values(
            sent_at=None,
            lease_until=None,
            attempts=sa.case((OutboxMessage.attempts > 0, OutboxMessage.attempts - 1), else_=0),
            last_error=error[:500],
        )
    )


def mark_processed(session: Session, message_id: str) -> None:
    """The consumer recorded the message: called in the actor's own transaction, so the row is
    finished exactly when the effect is committed."""
    session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.message_id == message_id, OutboxMessage.processed_at.is_(None))
        .values(processed_at=utcnow()),
        execution_options={"synchronize_session": False},
    )


def give_up(session: Session, ids: list[int], *, reason: str) -> None:
    """Stop sending messages that reached the attempt cap; support lists them (``dead``)."""
    for chunk in _chunks(ids):
        session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id.in_(chunk), _open())
            .values(dead_at=utcnow(), last_error=reason[:500]),
            execution_options={"synchronize_session": False},
        )


def dead(session: Session, *, limit: int = 50, after_id: int | None = None) -> list[OutboxMessage]:
    """Messages given up (never processed), newest first (``after_id``: next page)."""
    query = (
        sa.select(OutboxMessage)
        .where(OutboxMessage.dead_at.is_not(None), OutboxMessage.processed_at.is_(None))
        .order_by(OutboxMessage.id.desc())
        .limit(limit)
    )
    if after_id is not None:
        query = query.where(OutboxMessage.id < after_id)
    return list(session.scalars(query))


def revive(session: Session, row_id: int) -> bool:
    """Send a dead message again (a new round of attempts); False if it is not dead."""
    result = session.execute(
        sa.update(OutboxMessage)
        .where(
            OutboxMessage.id == row_id,
            OutboxMessage.dead_at.is_not(None),
            OutboxMessage.processed_at.is_(None),
        )
        .values(dead_at=None, attempts=0, sent_at=None, lease_until=utcnow()),
        execution_options={"synchronize_session": False},
    )
    return bool(_rowcount(result))


def purge_processed(session: Session, *, before: dt.datetime, limit: int = 1000) -> tuple[int, int]:
    """Delete at most ``limit`` outbox rows processed before ``before`` and at most ``limit``
    processed-message records that old; returns how many of each went. Open and dead rows
    stay. A message older than the retention is long finished: no lease sends it again."""
    rows = session.execute(
        sa.delete(OutboxMessage).where(
            OutboxMessage.id.in_(
                sa.select(OutboxMessage.id)
                .where(OutboxMessage.processed_at < before)
                .order_by(OutboxMessage.id)
                .limit(limit)
                .scalar_subquery()
            )
        ),
        execution_options={"synchronize_session": False},
    )
    records = session.execute(
        sa.delete(ProcessedMessage).where(
            ProcessedMessage.message_id.in_(
                sa.select(ProcessedMessage.message_id)
                .where(ProcessedMessage.processed_at < before)
                .limit(limit)
                .scalar_subquery()
            )
        ),
        execution_options={"synchronize_session": False},
    )
    return _rowcount(rows), _rowcount(records)


def _rowcount(result: sa.Result[Any]) -> int:
    """Rows an UPDATE or DELETE touched (SQLAlchemy types its result as a plain Result)."""
    return int(cast("sa.CursorResult[Any]", result).rowcount or 0)
