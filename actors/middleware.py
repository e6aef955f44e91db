"""Unit of work per message: one DB transaction, one logging context, effect at most once.

The middleware only binds the message to the thread (``message_id`` and ``actor`` in the
structlog context); the work is done by ``unit_of_work``, which wraps every actor's function
when it is declared, because only errors raised by the actor itself make Dramatiq retry (it
logs and swallows those of ``before_process_message`` and ``after_process_message``).

Inside the wrapper, in one transaction: record the message id in ``processed_message`` (a
second delivery of the same message finds it and does nothing; two concurrent deliveries
collide on the primary key and one of them does nothing), run the actor, mark its outbox row
processed, commit. If any step fails, the commit included, the transaction rolls back and the
error propagates, so Dramatiq retries the message and nothing was half done. An actor with
``unit_of_work=False`` manages its own short transactions (``current_factory``); its outbox
row is marked processed after it returns.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

import dramatiq
import structlog
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Middleware
from dramatiq.worker import WorkerThread
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub import outbox
from hub.config import Config
from hub.models import ProcessedMessage

log = structlog.get_logger(__name__)
_local = threading.local()
WRAPPED = "_payhub_unit_of_work"


def current_factory() -> Any:
    """The session factory of the broker running this message (for actors that manage their
    own short transactions: ``@dramatiq.actor(unit_of_work=False)``)."""
    factory = getattr(_local, "factory", None)
    if factory is None:
        raise RuntimeError("no unit of work: current_factory() called outside an actor")
    return factory


def current_settings() -> Config:
    """The settings of the broker running this message, set by its ``Settings`` middleware;
    outside a message (a direct call, the scheduler's thread), those of the current broker."""
    config = getattr(_local, "config", None)
    if config is None:
        config = settings_middleware(dramatiq.get_broker()).config
    return config


def settings_middleware(broker: dramatiq.Broker) -> Settings:
    """The broker's ``Settings`` middleware (one is added by ``actors.broker.setup``)."""
    for middleware in broker.middleware:
        if isinstance(middleware, Settings):
            return middleware
    raise RuntimeError("no Settings middleware: set the broker up with actors.broker.setup")


def use_settings(broker: dramatiq.Broker, config: Config) -> None:
    """Make ``config`` the settings the broker's actors read (tests change a setting so)."""
    settings_middleware(broker).config = config


def current_session() -> Session:
    """The session of the message being processed on this thread."""
    session = getattr(_local, "session", None)
    if session is None:
        raise RuntimeError("no unit of work: current_session() called outside an actor")
    return session


def unit_of_work(fn: Callable[..., Any], *, own_transactions: bool = False) -> Callable[..., Any]:
    """Wrap an actor's function: duplicate check, the actor, outbox row processed, commit."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        message = getattr(_local, "message", None)
        if message is None:
            if isinstance(threading.current_thread(), WorkerThread):
                # a worker without its message bound: never run unguarded
                raise RuntimeError("no unit of work for this message")
            return fn(*args, **kwargs)  # called directly (tests, a shell)
        factory = current_factory()
        if own_transactions:
            result = fn(*args, **kwargs)
            with factory.begin() as session:
                outbox.mark_processed(session, message.message_id)
            return result
        with factory() as session:
            _local.session = session
            try:
                return _in_transaction(session, message, fn, args, kwargs)
            finally:
                _local.session = None

    setattr(run, WRAPPED, True)
    return run


def _in_transaction(
    session: Session, message: MessageProxy, fn: Callable[..., Any], args: Any, kwargs: Any
) -> Any:
    try:
        session.add(ProcessedMessage(message_id=message.message_id, actor_name=message.actor_name))
        try:
            with session.begin_nested():
                session.flush()
        except IntegrityError:
            session.rollback()
            log.info("message.duplicate_skipped")
            return None
        result = fn(*args, **kwargs)
        outbox.mark_processed(session, message.message_id)
        session.commit()  # a failure here raises: the message is retried, not acked
        return result
    except BaseException:
        session.rollback()
        raise


class UnitOfWork(Middleware):
    @property
    def actor_options(self) -> set[str]:
        """``unit_of_work=False``: the actor opens its own short transactions
        (current_factory) and is idempotent by its own means; on SQLite a transaction held
        around them would lock it."""
        return {"unit_of_work"}

    def __init__(self, session_factory: Any) -> None:
        self.session_factory = session_factory

    def after_declare_actor(self, broker: dramatiq.Broker, actor: dramatiq.Actor) -> None:
        if not getattr(actor.fn, WRAPPED, False):
            actor.fn = unit_of_work(
                actor.fn, own_transactions=actor.options.get("unit_of_work", True) is False
            )

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(
            message_id=message.message_id, actor=message.actor_name
        )
        _local.factory = self.session_factory
        _local.message = message

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        self._close()

    def after_skip_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        self._close()

    def _close(self) -> None:
        _local.session = None
        _local.factory = None
        _local.message = None
        structlog.contextvars.clear_contextvars()


class Settings(Middleware):
    """Hands the process's settings (``hub.config.Config``) to the actors: bound to the
    thread for each message, read with ``current_settings()``."""

    def __init__(self, config: Config) -> None:
        self.config = config

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        _local.config = self.config

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        _local.config = None

    def after_skip_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        _local.config = None
