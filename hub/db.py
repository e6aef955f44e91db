"""Database: engine from settings, declarative base, and ``request.db`` joined to ``request.tm``.

The session is joined to the request's transaction manager through zope.sqlalchemy, so a view
never commits: pyramid_tm commits when the view returns, or aborts on an exception, and
pyramid_retry replays the request on a serialization failure or deadlock.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
import zope.sqlalchemy
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, ORMExecuteState, Session, sessionmaker

from hub import clock
from hub.clock import ROME  # noqa: F401 - kept where older code imports it
from hub.config import Config, as_config, from_registry

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(sa.TypeDecorator[dt.datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no time zone of its own)."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware UTC datetime is required")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


# the execution option of a SELECT that writes (data-modifying CTEs: the receipt path), which
# must make the request's transaction commit as an INSERT does
WRITES = "payhub_writes"


def utcnow() -> dt.datetime:
    """Now in UTC, from the one clock (hub.clock)."""
    return clock.now()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create the engine for ``url``; SQLite gets foreign keys, WAL and a busy timeout.

    Statement parameters are never shown in errors (``hide_parameters``): a failing INSERT's
    exception, and so every traceback in the logs, would carry fiscal codes, names, e-mails."""
    kwargs["hide_parameters"] = True
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 30})
        engine = sa.create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN; take the write lock up front so
        # SELECT ... FOR UPDATE semantics (a no-op on SQLite) still serialise writers.
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    # the outbox relay takes a second connection after a commit while the request still holds
    # its own: the pool must be at least twice the number of threads serving requests
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 20)
    return sa.create_engine(url, **kwargs)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # let the "begin" listener issue BEGIN IMMEDIATE
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()
    # the Italian day of a stored UTC time (the dashboard counters' trigger, migration 0024)
    dbapi_conn.create_function("rome_day", 1, _rome_day, deterministic=True)


def _rome_day(value: str | None) -> str | None:
    if value is None:
        return None
    at = dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)
    return at.astimezone(clock.ROME).date().isoformat()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def engine_options(settings: Config | dict[str, Any]) -> dict[str, Any]:
    """Pool settings from .ini (PostgreSQL only): ``payhub.db_pool_size``,
    ``payhub.db_max_overflow``, ``payhub.db_pre_ping`` (a ``SELECT 1`` round trip before each
    checkout; off saves it, and a connection dropped by a database restart then fails one
    request, which pyramid_retry does not replay)."""
    config = as_config(settings)
    if config.sqlalchemy_url.startswith("sqlite"):
        return {}
    return {
        "pool_size": config.db_pool_size,
        "max_overflow": config.db_max_overflow,
        "pool_pre_ping": config.db_pre_ping,
    }


def engine_from_config(config: Config) -> Engine:
    """The process's engine: the database URL with the pool settings (web, worker, scheduler
    and commands alike)."""
    return make_engine(config.sqlalchemy_url, **engine_options(config))


_ZOPE_EVENTS = "zope_events"  # in a request's session.info: its transaction's listeners
_SESSION_OF = {  # zope.sqlalchemy's listeners, and where each finds its session
    "after_begin": lambda session, *_: session,
    "after_attach": lambda session, *_: session,
    "after_flush": lambda session, *_: session,
    "before_commit": lambda session, *_: session,
    "after_bulk_update": lambda context: context.session,
    "after_bulk_delete": lambda context: context.session,
}  # and do_orm_execute: ``_written`` below does what its listener does (ORM DML) and more


def _join_requests_transactions(factory: sessionmaker[Session]) -> None:
    """zope.sqlalchemy's listeners, registered once on the factory rather than on each
    request's session (registering seven listeners cost a receipt more CPU than a statement):
    each event goes to the listeners of the session's own request (``session.info``), and a
    session made outside a request (no listeners) is left alone. Also: a row written by a
    Core statement and no flush (the receipt path: hub.payments), or by a SELECT of
    data-modifying CTEs (``WRITES``), makes the request's transaction commit as a flushed one
    does."""

    def forward(name: str, session_of: Any) -> Any:
        def listener(*args: Any) -> None:
            events = session_of(*args).info.get(_ZOPE_EVENTS)
            if events is not None:
                getattr(events, name)(*args)

        return listener

    for name, session_of in _SESSION_OF.items():
        event.listen(factory, name, forward(name, session_of))

    @event.listens_for(factory, "do_orm_execute")
    def _written(state: ORMExecuteState) -> None:
        events = state.session.info.get(_ZOPE_EVENTS)
        if events is not None and (
            state.is_insert
            or state.is_update
            or state.is_delete
            or state.execution_options.get(WRITES)
        ):
            events.mark_changed(state.session)


def includeme(config: Any) -> None:
    """Register the engine and ``request.db`` (a session joined to ``request.tm``)."""
    engine = engine_from_config(from_registry(config.registry))
    factory = make_session_factory(engine)
    config.registry["db.engine"] = engine
    config.registry["db.session_factory"] = factory

    _join_requests_transactions(factory)

    def db(request: Any) -> Session:
        session = factory(info={"request": request})
        session.info[_ZOPE_EVENTS] = zope.sqlalchemy.datamanager.ZopeTransactionEvents(
            transaction_manager=request.tm
        )
        request.add_finished_callback(lambda _r: session.close())
        return session

    config.add_request_method(db, reify=True)
