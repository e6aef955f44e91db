"""Prebuilt Core statements run straight on psycopg: the station's hottest round trips.

On the receipt's path SQLAlchemy's execution of a statement (the execution context, the
parameters processed by name, the cursor's description, the Result object) costs more CPU than
the statement's round trip. A statement built once at import is compiled here once per
dialect: the same SQL text SQLAlchemy would send, the bind processors of its parameters and
the result processors of its columns worked out once. Running it applies those processors to
the values given, sends the text (already encoded) with them to psycopg as a prepared
statement, and gives the rows back as tuples whose columns are attributes, as a Row's are.

Only where a session asks for it (``use_driver``: the SOAP fast path's sessions, which no
transaction manager watches) and only on psycopg; everything else, and a statement SQLAlchemy
must finish at execution (an IN list expanded, a literal rendered), runs through SQLAlchemy as
before. A driver error comes out as SQLAlchemy's exception for it, the connection invalidated
where the database dropped it, so callers see what ``Session.execute`` would have raised.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections import namedtuple
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from psycopg import RawCursor
from psycopg.pq import ExecStatus
from sqlalchemy.orm import Session

from hub.db import WRITES

TUPLES_OK = ExecStatus.TUPLES_OK  # the statement answered rows (else there is none to fetch)
KEY = "driver_statements"  # in session.info: this session's statements may run here
AUTOCOMMIT_KEY = "driver_autocommit"  # in session.info: how to reach a connection in autocommit


def use_driver(
    session: Session, *, autocommit: Callable[[], sa.Connection] | None = None
) -> Session:
    """Let ``session``'s prebuilt statements (``rows``) run on the driver; returns it.
    ``autocommit``: gives a working connection of the same database in autocommit, for a
    statement that is a whole transaction of its own (``run_alone``)."""
    session.info[KEY] = True
    if autocommit is not None:
        session.info[AUTOCOMMIT_KEY] = autocommit
    return session


def runs_alone(session: Session) -> bool:
    """Whether ``use_driver`` gave ``session`` a connection in autocommit (``run_alone``)."""
    return AUTOCOMMIT_KEY in session.info


def run_alone(session: Session, statement: sa.Executable, values: dict[str, Any]) -> Any:
    """``statement`` run as a transaction of its own, committed when this returns, on the
    connection in autocommit that ``use_driver`` gave ``session``: its rows; None (nothing
    run) where there is none, or not on the driver. A connection the database dropped is
    thrown away by its owner and the statement sent once more on a new one: only for a
    statement that may run twice (the first may have committed before the connection
    dropped)."""
    connect = session.info.get(AUTOCOMMIT_KEY)
    if connect is None:
        return None
    try:
        return run(connect(), statement, values)
    except sa.exc.DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    return run(connect(), statement, values)


class Compiled:
    """One statement compiled for one dialect: its SQL as bytes, each parameter's name,
    default and bind processor, and the row type with each column's result processor."""

    def __init__(self, statement: Any, dialect: sa.Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        if (
            compiled.positional
            or getattr(compiled, "literal_execute_params", None)
            or getattr(compiled, "insert_prefetch", None)  # column defaults made in Python
            or getattr(compiled, "update_prefetch", None)
            or any(bind.expanding or bind.literal_execute for bind in compiled.binds.values())
        ):
            raise ValueError("statement needs SQLAlchemy at execution")
        named: dict[str, tuple[str, Any, Callable[[Any], Any] | None]] = {}
        for bind, name in compiled.bind_names.items():
            rendered = compiled.escaped_bind_names.get(name, name)
            default = _NONE if bind.required else bind.effective_value  # as SQLAlchemy decides
            processor = bind.type._cached_bind_processor(dialect)  # as SQLAlchemy applies it
            named[rendered] = (bind.key, default, processor)
        # psycopg's own placeholders ($1, $2, ...), worked out here once: psycopg converts a
        # query with named ones on every execution (it caches that only below 4,096
        # characters and 50 parameters); a name used twice is the same parameter
        order: list[str] = []

        def number(match: re.Match[str]) -> str:
            name = match.group(1)
            if name is None:
                return "%"  # a literal percent sign, doubled for the named style
            if name not in named:
                raise ValueError(f"parameter {name!r} is not one of the statement's")
            if name not in order:
                order.append(name)
            return f"${order.index(name) + 1}"

        self.sql = _PLACEHOLDER.sub(number, compiled.string).encode()
        self.binds = [named[name] for name in order]
        columns = list(getattr(compiled, "_result_columns", ()))
        names = [c[0] for c in columns]
        self.row: Any = namedtuple("Row", names, rename=True) if columns else None  # type: ignore[misc]
        try:  # as SQLAlchemy applies them (a type that needs the column's own type: refused)
            processors = [c[3]._cached_result_processor(dialect, None) for c in columns]
        except Exception as exc:
            raise ValueError("a column needs SQLAlchemy's result processing") from exc
        self.processors = processors if any(p is not None for p in processors) else None

    def parameters(self, values: dict[str, Any]) -> list[Any]:
        """The values of ``$1``, ``$2``, ... in ``sql``, each processed as SQLAlchemy does."""
        out = []
        for key, default, process in self.binds:
            value = values.get(key, default)
            if value is _NONE:
                raise sa.exc.InvalidRequestError(f"a value is required for bind parameter {key!r}")
            out.append(process(value) if process is not None else value)
        return out

    def make_rows(self, fetched: Sequence[tuple[Any, ...]]) -> list[Any]:
        row, processors = self.row, self.processors
        if row is None:
            return []
        if processors is None:
            return [row._make(values) for values in fetched]
        return [
            row._make(p(v) if p is not None else v for p, v in zip(processors, values, strict=True))
            for values in fetched
        ]


_NONE: Any = object()
_PLACEHOLDER = re.compile(r"%\(([^)]+)\)s|%%")
# per dialect (an engine thrown away takes its statements with it), per statement object: the
# prebuilt statements this is for are a few dozen; a caller building statements as it goes
# would fill it, so past MAX_STATEMENTS a dialect's are forgotten and compiled again
_cache: weakref.WeakKeyDictionary[sa.Dialect, dict[Any, Compiled | None]] = (
    weakref.WeakKeyDictionary()
)
_cache_lock = threading.Lock()
MAX_STATEMENTS = 500


def compiled(statement: sa.Executable, dialect: sa.Dialect) -> Compiled | None:
    """``statement`` compiled for ``dialect``, once; None if it must run through SQLAlchemy."""
    known = _cache.get(dialect)
    if known is not None:
        try:
            return known[statement]
        except KeyError:
            pass
        except TypeError:  # a statement that cannot be a key: SQLAlchemy runs it
            return None
    try:
        made: Compiled | None = Compiled(statement, dialect)
    except ValueError:
        made = None
    with _cache_lock:
        known = _cache.setdefault(dialect, {})
        if len(known) >= MAX_STATEMENTS:
            known.clear()
        try:
            known[statement] = made
        except TypeError:  # a statement that cannot be a key: SQLAlchemy runs it
            return None
    return made


def rows(session: Session, statement: sa.Executable, values: dict[str, Any]) -> list[Any]:
    """Run ``statement`` with ``values`` in ``session``'s transaction; its rows, each with
    its columns as attributes. On the driver where ``use_driver`` said so (``run``), else
    through SQLAlchemy: a statement that writes through the session (its listeners, such as
    a request's transaction manager, see the write), a read on its connection (no ORM
    result to build)."""
    if session.info.get(KEY):
        found = run(session.connection(), statement, values)
        if found is not None:
            return found
    return _through_sqlalchemy(session, statement, values)


def run(connection: sa.Connection, statement: sa.Executable, values: dict[str, Any]) -> Any:
    """``statement`` run on ``connection``'s psycopg connection, in whatever transaction it
    is in: its rows; None (nothing run) where the connection is not psycopg's or the
    statement needs SQLAlchemy. A driver error is raised as SQLAlchemy's exception for it,
    the connection invalidated if the database dropped it."""
    dialect = connection.dialect
    prepared = compiled(statement, dialect) if dialect.driver == "psycopg" else None
    if prepared is None:
        return None
    parameters = prepared.parameters(values)
    dbapi_connection: Any = connection.connection.dbapi_connection
    dbapi = dialect.loaded_dbapi
    try:
        with RawCursor(dbapi_connection) as cursor:  # the query's placeholders are psycopg's
            cursor.execute(prepared.sql, parameters, prepare=True)
            result = cursor.pgresult
            fetched = cursor.fetchall() if result and result.status == TUPLES_OK else []
    except dbapi.Error as exc:
        lost = dialect.is_disconnect(exc, dbapi_connection, None)
        if lost:
            connection.invalidate(exc)
        raise sa.exc.DBAPIError.instance(
            prepared.sql.decode(),
            None,
            exc,
            dbapi.Error,
            hide_parameters=True,
            connection_invalidated=lost,
            dialect=dialect,
        ) from exc
    return prepared.make_rows(fetched)


def _through_sqlalchemy(
    session: Session, statement: sa.Executable, values: dict[str, Any]
) -> list[Any]:
    writes = getattr(statement, "is_dml", False) or statement.get_execution_options().get(WRITES)
    if writes:
        return list(session.execute(statement, values))
    return list(session.connection().execute(statement, values))
