"""Outbox relay: send the messages a transaction wrote once it has committed; sweep leftovers.

``install_relay`` hooks SQLAlchemy's after_commit on a session factory: after each commit the
messages written in that transaction are enqueued on the broker. They were written already
marked sent, with a lease (a before_flush hook), so a send that works writes nothing more; a
send that fails undoes the lease in a short transaction, and a process that dies between the
commit and the send leaves them to the sweeper when the lease ends. A row is finished only
when its consumer records it (``hub.outbox.mark_processed`` in the actor's transaction, see
UnitOfWork); ``sweep`` (run by the scheduler) sends again whatever is still open when its
lease ends, whatever Redis remembers. A message sent twice is acted on once (the consumer's
duplicate check).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import dramatiq
import structlog
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from actors.middleware import settings_middleware
from hub import outbox

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Policy:
    """``payhub.outbox_lease_seconds`` (60): a sent message not processed by then is sent
    again (the lease doubles with each send, up to 32 times); ``payhub.outbox_max_attempts``
    (10): sends before the message is given up as dead."""

    lease: dt.timedelta = dt.timedelta(seconds=60)
    max_attempts: int = 10

    @classmethod
    def of(cls, broker: dramatiq.Broker) -> Policy:
        config = settings_middleware(broker).config
        return cls(
            lease=dt.timedelta(seconds=config.outbox_lease_seconds),
            max_attempts=config.outbox_max_attempts,
        )


def send(broker: dramatiq.Broker, message: dict[str, Any]) -> None:
    """Enqueue one outbox message, keeping its message id (the message the actor's
    ``message_with_options`` builds, without the id it would draw only to be replaced)."""
    actor = broker.get_actor(message["actor_name"])
    broker.enqueue(
        dramatiq.Message(
            queue_name=message["queue_name"] or actor.queue_name,
            actor_name=actor.actor_name,
            args=(),
            kwargs=message["args"] or {},
            options={},
            message_id=message["message_id"],
        )
    )


def relay(
    broker: dramatiq.Broker,
    factory: sessionmaker[Session],
    messages: list[dict[str, Any]],
    *,
    leased: bool = False,
) -> int:
    """Send ``messages`` and mark those sent (with a lease); return how many went. Never
    raises: what fails stays open for the sweeper. ``leased``: the messages were written
    already marked sent (``hub.outbox.lease_pending``, right after their commit), so only a
    failed send is written, to undo its lease."""
    sent: list[dict[str, Any]] = []
    for message in messages:
        try:
            send(broker, message)
        except Exception as exc:  # broker down, unknown actor: the sweeper will retry
            log.warning(
                "outbox.send_failed",
                outbox_id=message["id"],
                actor_name=message["actor_name"],
                error=str(exc)[:200],
            )
            _record_failure(factory, message["id"], exc, leased=leased)
            continue
        sent.append(message)
    if sent and not leased:
        try:
            with factory.begin() as session:
                outbox.mark_sent(session, sent, lease=Policy.of(broker).lease)
        except Exception as exc:  # sent but not marked: a re-send is harmless
            log.warning("outbox.mark_sent_failed", count=len(sent), error=str(exc)[:200])
    return len(sent)


def _record_failure(
    factory: sessionmaker[Session], row_id: int, exc: Exception, *, leased: bool
) -> None:
    try:
        with factory.begin() as session:
            record = outbox.release if leased else outbox.mark_failed
            record(session, row_id, f"{type(exc).__name__}: {exc}")
    except Exception:
        log.exception("outbox.mark_failed_failed", outbox_id=row_id)


def install_relay(factory: sessionmaker[Session], get_broker: Any = dramatiq.get_broker) -> None:
    """Relay each committed transaction's outbox rows (idempotent per factory)."""
    if getattr(factory, "_payhub_relay", False):
        return
    factory._payhub_relay = True  # type: ignore[attr-defined]

    # the relay opens its own sessions; it must not relay from inside them recursively
    plain = sessionmaker(bind=factory.kw["bind"], expire_on_commit=False)

    def _lease() -> dt.timedelta | None:
        try:
            return Policy.of(get_broker()).lease
        except Exception as exc:  # no broker settings: left unleased, the sweeper re-sends
            log.warning("outbox.lease_unknown", error=str(exc)[:200])
            return None

    # rows written at once (hub.outbox.enqueue_written) ask the session for their lease
    factory.kw["info"] = {**(factory.kw.get("info") or {}), outbox.LEASE_KEY: _lease}

    @event.listens_for(factory, "before_flush")
    def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
        # the messages are written as the relay below will leave them once sent: the send
        # after the commit then needs no transaction of its own (only a failure writes)
        if not session.info.get(outbox.PENDING_KEY):
            return
        lease = _lease()
        if lease is not None:
            outbox.lease_pending(session, lease=lease)

    @event.listens_for(factory, "after_commit")
    def _after_commit(session: Session) -> None:
        if session.in_nested_transaction():  # a savepoint: the outer transaction goes on
            return
        messages = outbox.take_pending(session)
        if messages:
            relay(get_broker(), plain, messages, leased=True)

    @event.listens_for(factory, "after_soft_rollback")
    def _after_rollback(session: Session, previous_transaction: Any) -> None:
        if previous_transaction.parent is None:
            outbox.forget_pending(session)


def sweep(
    broker: dramatiq.Broker,
    factory: sessionmaker[Session],
    *,
    grace: dt.timedelta = dt.timedelta(seconds=5),
    batch: int = 500,
    max_batches: int = 20,
) -> int:
    """Send every open message that is due (see ``hub.outbox.due``), ``batch`` rows at a time
    and at most ``max_batches`` batches per call; give up those sent ``max_attempts`` times.
    Returns how many were sent."""
    policy = Policy.of(broker)
    count = found = after = 0
    for _ in range(max_batches):
        with factory() as session:
            messages = outbox.due(session, older_than=grace, after_id=after, limit=batch)
        if not messages:
            break
        found += len(messages)
        after = messages[-1]["id"]
        exhausted = [m["id"] for m in messages if m["attempts"] >= policy.max_attempts]
        if exhausted:
            with factory.begin() as session:
                outbox.give_up(
                    session, exhausted, reason=f"not processed after {policy.max_attempts} sends"
                )
            log.error("outbox.given_up", count=len(exhausted))
        count += relay(
            broker, factory, [m for m in messages if m["attempts"] < policy.max_attempts]
        )
        if len(messages) < batch:
            break
    if found:
        log.info("outbox.swept", found=found, sent=count)
    return count


def purge(
    factory: sessionmaker[Session], *, days: float, batch: int = 1000, max_batches: int = 50
) -> tuple[int, int]:
    """Delete outbox rows and processed-message records finished more than ``days`` ago
    (``payhub.outbox_retention_days``, 14; 0 keeps them), ``batch`` of each per transaction
    and at most ``max_batches`` transactions per call (the next run goes on). Returns how
    many (outbox rows, records) were deleted."""
    if days <= 0:
        return 0, 0
    before = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    total = [0, 0]
    for _ in range(max_batches):
        with factory.begin() as session:
            rows, records = outbox.purge_processed(session, before=before, limit=batch)
        total[0] += rows
        total[1] += records
        if rows < batch and records < batch:
            break
    if any(total):
        log.info("outbox.purged", outbox_rows=total[0], processed_messages=total[1])
    return total[0], total[1]
