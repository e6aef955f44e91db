"""Unit of work per message: one DB transaction, one logging context, effect at most once.

Before an actor runs, the middleware opens a session, binds ``message_id`` and ``actor`` to the
structlog context, and records the message id in ``processed_message``. A second delivery of
the same message (sweeper re-send, redelivery after a crash) finds the id and is skipped; two
concurrent deliveries collide on the primary key and one of them is skipped. The session commits
if the actor returns and rolls back (id included) if it raises, so a retry runs again.
"""

from __future__ import annotations

import threading
from typing import Any

import dramatiq
import structlog
from dramatiq.middleware import Middleware, SkipMessage
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.models import ProcessedMessage

log = structlog.get_logger(__name__)
_local = threading.local()


def current_factory() -> Any:
    """The session factory of the broker running this message (for actors that manage their
    own short transactions: ``@dramatiq.actor(unit_of_work=False)``)."""
    factory = getattr(_local, "factory", None)
    if factory is None:
        raise RuntimeError("no unit of work: current_factory() called outside an actor")
    return factory


def current_session() -> Session:
    """The session of the message being processed on this thread."""
    session = getattr(_local, "session", None)
    if session is None:
        raise RuntimeError("no unit of work: current_session() called outside an actor")
    return session


class UnitOfWork(Middleware):
    # ``unit_of_work=False``: the actor opens its own short transactions (current_factory) and
    # is idempotent by its own means; on SQLite a transaction held around them would lock it
    actor_options = frozenset({"unit_of_work"})

    def __init__(self, session_factory: Any) -> None:
        self.session_factory = session_factory

    def before_process_message(self, broker: dramatiq.Broker, message: dramatiq.Message) -> None:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(
            message_id=message.message_id, actor=message.actor_name
        )
        _local.factory = self.session_factory
        actor = broker.get_actor(message.actor_name)
        if actor.options.get("unit_of_work", True) is False:
            _local.session = None
            return
        session = self.session_factory()
        _local.session = session
        session.add(ProcessedMessage(message_id=message.message_id,
                                     actor_name=message.actor_name))
        try:
            with session.begin_nested():
                session.flush()
        except IntegrityError:
            log.info("message.duplicate_skipped")
            raise SkipMessage() from None

    def after_process_message(self, broker: dramatiq.Broker, message: dramatiq.Message, *,
                              result: Any = None, exception: BaseException | None = None) -> None:
        session = getattr(_local, "session", None)
        if session is None:
            self._close()
            return
        try:
            if exception is None:
                session.commit()
            else:
                session.rollback()
        finally:
            self._close()

    def after_skip_message(self, broker: dramatiq.Broker, message: dramatiq.Message) -> None:
        session = getattr(_local, "session", None)
        if session is not None:
            session.rollback()
        self._close()

    def _close(self) -> None:
        session = getattr(_local, "session", None)
        if session is not None:
            session.close()
        _local.session = None
        _local.factory = None
        structlog.contextvars.clear_contextvars()
