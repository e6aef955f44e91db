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

A session that ``hub.outbox.defer``s its messages (the station's receipts, with
``payhub.soap_defer_messages``) writes them never sent and sends nothing: ``run_relay``, a
loop in the scheduler's process, sends the rows never sent every
``payhub.outbox_relay_seconds``, hundreds in one round trip to Redis (``relay_unsent``).
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from dataclasses import dataclass
from typing import Any

import dramatiq
import structlog
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import current_millis
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
    """Enqueue one outbox message, keeping its message id."""
    broker.enqueue(_message(broker, message))


def _message(broker: dramatiq.Broker, message: dict[str, Any]) -> dramatiq.Message:
    """The Dramatiq message of an outbox row: what the actor's ``message_with_options``
    builds, with the row's message id rather than one drawn only to be replaced."""
    actor = broker.get_actor(message["actor_name"])
    return dramatiq.Message(
        queue_name=message["queue_name"] or actor.queue_name,
        actor_name=actor.actor_name,
        args=(),
        kwargs=message["args"] or {},
        options={},
        message_id=message["message_id"],
    )


def send_batch(
    broker: dramatiq.Broker, messages: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], Exception]]]:
    """Enqueue ``messages`` on Redis in one round trip (a pipeline of the broker's own
    enqueue script, as ``RedisBroker.enqueue`` runs it for one message); on another broker,
    one by one. Returns (sent, refused with why: an unknown actor). Raises if Redis could not
    be reached: none of them counts as sent (a re-send is harmless)."""
    built: list[tuple[dict[str, Any], dramatiq.Message]] = []
    refused: list[tuple[dict[str, Any], Exception]] = []
    for message in messages:
        try:
            built.append((message, _message(broker, message)))
        except Exception as exc:
            refused.append((message, exc))
    if not isinstance(broker, RedisBroker):
        sent = []
        for message, each in built:
            try:
                broker.enqueue(each)
            except Exception as exc:
                refused.append((message, exc))
            else:
                sent.append(message)
        return sent, refused
    if built:
        _pipeline_enqueue(broker, [each for _, each in built])
    return [message for message, _ in built], refused


def _pipeline_enqueue(broker: RedisBroker, messages: list[dramatiq.Message]) -> None:
    """``RedisBroker.enqueue`` for many messages, their dispatch scripts in one pipeline (the
    script's arguments as ``RedisBroker._dispatch`` passes them: dramatiq 2.x)."""
    dispatch = broker.scripts["dispatch"]
    pipe = broker.client.pipeline(transaction=False)
    fixed = [
        broker.broker_id,
        broker.heartbeat_timeout,
        broker.dead_message_ttl,
        broker._should_do_maintenance("enqueue"),
        broker._max_unpack_size(),
    ]
    enqueued = []
    for message in messages:
        # as RedisBroker.enqueue: each message enqueued has an id of its own in Redis
        each = message.copy(options={"redis_message_id": str(uuid.uuid4())})
        broker.emit_before("enqueue", each, None)
        dispatch(
            keys=[broker.namespace],
            args=[
                "enqueue",
                current_millis(),
                each.queue_name,
                *fixed,
                each.options["redis_message_id"],
                each.encode(),
            ],
            client=pipe,
        )
        enqueued.append(each)
    pipe.execute()
    for each in enqueued:
        broker.emit_after("enqueue", each, None)


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


def relay_unsent(
    broker: dramatiq.Broker, factory: sessionmaker[Session], *, batch: int = 500
) -> int:
    """Send up to ``batch`` messages never sent (``hub.outbox.unsent``: the oldest, written by
    sessions that ``defer`` them, or by no relay at all) in one round trip to Redis, and mark
    them sent, in one transaction that holds their rows: another relay skips them, and one
    that dies before its commit leaves them to be sent again (a re-send is harmless). A
    message the broker refuses (an unknown actor) is marked failed, left to the sweeper.
    Returns how many were sent; raises if Redis or PostgreSQL could not be reached (then
    nothing is marked)."""
    lease = Policy.of(broker).lease
    with factory.begin() as session:
        messages = outbox.unsent(session, limit=batch)
        if not messages:
            return 0
        sent, refused = send_batch(broker, messages)
        outbox.mark_sent(session, sent, lease=lease)  # their first send: one lease long
        for message, exc in refused:
            log.warning(
                "outbox.send_failed",
                outbox_id=message["id"],
                actor_name=message["actor_name"],
                error=str(exc)[:200],
            )
            outbox.mark_failed(session, message["id"], f"{type(exc).__name__}: {exc}")
    return len(sent)


def run_relay(
    broker: dramatiq.Broker,
    factory: sessionmaker[Session],
    *,
    every: float,
    stop: threading.Event,
    batch: int = 500,
) -> None:
    """The relay loop, until ``stop`` is set: ``relay_unsent`` at once again after a full
    batch (a backlog drains at the pipeline's pace), else after ``every`` seconds; after a
    failure (Redis or PostgreSQL unreachable) after a pause that doubles up to 30 s."""
    pause = every
    while not stop.is_set():
        try:
            count = relay_unsent(broker, factory, batch=batch)
        except Exception as exc:  # retried: the rows stay unsent, nothing is lost
            pause = min(max(pause * 2, 1.0), 30.0)
            log.warning("outbox.relay_failed", error=str(exc)[:200], retry_in=pause)
            stop.wait(pause)
            continue
        pause = every
        if count < batch:
            stop.wait(every)


def sweep(
    broker: dramatiq.Broker,
    factory: sessionmaker[Session],
    *,
    grace: dt.timedelta = dt.timedelta(seconds=5),
    batch: int = 500,
    max_batches: int = 20,
    unsent: bool = True,
) -> int:
    """Send every open message that is due (see ``hub.outbox.due``), ``batch`` rows at a time
    and at most ``max_batches`` batches per call; give up those sent ``max_attempts`` times.
    ``unsent=False``: the messages never sent and never refused are left to the relay loop
    (``run_relay``: sending them here too would send a backlog twice). Returns how many were
    sent."""
    policy = Policy.of(broker)
    count = found = after = 0
    for _ in range(max_batches):
        with factory() as session:
            messages = outbox.due(
                session, older_than=grace, after_id=after, limit=batch, unsent=unsent
            )
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
