"""Outbox relay: send the messages a transaction wrote once it has committed; sweep leftovers.

``install_relay`` hooks SQLAlchemy's after_commit on a session factory: after each commit the
messages written in that transaction are enqueued on the broker and marked sent in a short
transaction of their own. If the broker is down the rows stay unsent and ``sweep`` (run by
the scheduler) sends them later. A message sent twice is acted on once (see UnitOfWork).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import dramatiq
import structlog
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from hub import outbox

log = structlog.get_logger(__name__)


def send(broker: dramatiq.Broker, message: dict[str, Any]) -> None:
    """Enqueue one outbox message, keeping its message id."""
    actor = broker.get_actor(message["actor_name"])
    msg = actor.message_with_options(kwargs=message["args"]).copy(
        message_id=message["message_id"], queue_name=message["queue_name"] or actor.queue_name
    )
    broker.enqueue(msg)


def relay(broker: dramatiq.Broker, factory: sessionmaker[Session],
          messages: list[dict[str, Any]]) -> int:
    """Send ``messages`` and mark those sent; return how many went. Never raises: what fails
    stays unsent for the sweeper."""
    sent: list[int] = []
    for message in messages:
        try:
            send(broker, message)
        except Exception as exc:  # broker down, unknown actor: the sweeper will retry
            log.warning("outbox.send_failed", outbox_id=message["id"],
                        actor_name=message["actor_name"], error=str(exc)[:200])
            _record_failure(factory, message["id"], exc)
            continue
        sent.append(message["id"])
    if sent:
        try:
            with factory.begin() as session:
                outbox.mark_sent(session, sent)
        except Exception as exc:  # sent but not marked: a re-send is harmless
            log.warning("outbox.mark_sent_failed", count=len(sent), error=str(exc)[:200])
    return len(sent)


def _record_failure(factory: sessionmaker[Session], row_id: int, exc: Exception) -> None:
    try:
        with factory.begin() as session:
            outbox.mark_failed(session, row_id, f"{type(exc).__name__}: {exc}")
    except Exception:
        log.exception("outbox.mark_failed_failed", outbox_id=row_id)


def install_relay(factory: sessionmaker[Session], get_broker: Any = dramatiq.get_broker) -> None:
    """Relay each committed transaction's outbox rows (idempotent per factory)."""
    if getattr(factory, "_payhub_relay", False):
        return
    factory._payhub_relay = True  # type: ignore[attr-defined]

    # the relay opens its own sessions; it must not relay from inside them recursively
    plain = sessionmaker(bind=factory.kw["bind"], expire_on_commit=False)

    @event.listens_for(factory, "after_commit")
    def _after_commit(session: Session) -> None:
        if session.in_nested_transaction():  # a savepoint: the outer transaction goes on
            return
        messages = outbox.take_pending(session)
        if messages:
            relay(get_broker(), plain, messages)

    @event.listens_for(factory, "after_soft_rollback")
    def _after_rollback(session: Session, previous_transaction: Any) -> None:
        if previous_transaction.parent is None:
            outbox.forget_pending(session)


def sweep(broker: dramatiq.Broker, factory: sessionmaker[Session], *,
          grace: dt.timedelta = dt.timedelta(seconds=5)) -> int:
    """Send every message committed more than ``grace`` ago and still unsent."""
    with factory() as session:
        messages = outbox.unsent(session, older_than=grace)
    if not messages:
        return 0
    count = relay(broker, factory, messages)
    log.info("outbox.swept", found=len(messages), sent=count)
    return count
