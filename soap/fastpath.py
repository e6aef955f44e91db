"""The station's fast path: paVerifyPaymentNotice and paSendRT(V2) answered in front of Pyramid.

paVerify is the station's most frequent call and writes nothing, so it needs neither
pyramid_tm's transaction manager nor pyramid_retry. This WSGI middleware runs the same
endpoint object, checks and answers as the Pyramid view; every other request, or a body that
turns out to be another operation, goes on to the Pyramid application untouched.

On PostgreSQL each thread keeps one autocommit connection of an engine of its own (a verify is
one round trip: no pool checkout, pre-ping, BEGIN or ROLLBACK), and the verify's one query goes
to the driver as a prepared statement (``hub.driver``); a connection the database dropped
is thrown away and the request tried once more on a new one. On SQLite a verify gets a session
of the application's engine, rolled back at the end.

paSendRT and paSendRTV2 (the station's hottest write) are answered here too, on PostgreSQL and
unless ``payhub.soap_fast_receipts`` is false: the same endpoint on a Session of the
application's factory (so the outbox relay sends the receipt's messages after the commit),
bound to a connection the thread keeps (no pool checkout, pre-ping or tweens), its statements
run on the driver (``hub.driver``); with ``payhub.soap_defer_messages`` its follow-up message is
written never sent, for the scheduler's relay loop (``actors.outbox.run_relay``) to send, and
the request never waits on Redis. An ordinary receipt (OK, for a payable option of a served
Ente, the amount expected) is one statement on the thread's connection in autocommit, the one
verifies use: stored, settled and committed in one round trip (``hub.payments.store_receipt``),
sent once more on a new connection if the database dropped it. Anything else is written in the
session's transaction, and what pyramid_tm and pyramid_retry would do is done here: a KO rolls
back; an OK commits, and a failed commit is PAA_SYSTEM_ERROR (its SLA outcome replaced, as
``system_error_view`` does on the full path); any other failure rolls back and hands the
request, untouched by then, to the full path, which runs it again with its own retries (a
dropped connection is thrown away first). An ordinary receipt is committed by its statement:
should anything fail after it, the full path finds it stored and answers
PAA_RECEIPT_DUPLICATA, which ends the Node's deliveries as an OK does.
"""

from __future__ import annotations

import contextlib
import io
import threading
import uuid
from typing import Any

import structlog
from pyramid.request import Request
from sqlalchemy.exc import DBAPIError, MultipleResultsFound
from sqlalchemy.orm import Session

from hub import db as hub_db
from hub import driver, outbox
from hub.config import from_registry
from soap.dispatch import system_error_view

log = structlog.get_logger("soap.fastpath")

READ_ONLY = frozenset({"paVerifyPaymentNotice"})
_MARKER = b"paVerifyPaymentNoticeReq"
RECEIPTS = frozenset({"paSendRT", "paSendRTV2"})
_RECEIPT_MARKERS = (b"paSendRTV2Req", b"paSendRTReq")


class _NoTransactionManager:
    """What the endpoint calls on ``request.tm``: a read-only session has nothing to doom."""

    def doom(self) -> None:
        pass


class _Doom:
    """``request.tm`` for a receipt: the endpoint dooms it on a KO (nothing is committed)."""

    doomed = False

    def doom(self) -> None:
        self.doomed = True


class SoapFastPath:
    def __init__(self, app: Any, registry: Any, path: str) -> None:
        self.app = app
        self.registry = registry
        self.path = path
        self.endpoint = registry["soap.paForNode"]
        self.factory = registry["db.session_factory"]
        self.engine = _read_only_engine(registry)
        self.on_driver = self.engine is not None and self.engine.dialect.driver == "psycopg"
        self._local = threading.local()  # each thread keeps its connection, as a worker would
        self.max_body = self.endpoint.config.max_body_bytes
        self.write_engine = _write_engine(registry)  # None: receipts take the full path
        # payhub.soap_defer_messages: a receipt's follow-ups are the scheduler relay's to send
        self.defer_messages = from_registry(registry).soap_defer_messages
        self._kept: list[Any] = []  # every connection a thread keeps, for close()
        self._kept_lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") != self.path or environ.get("REQUEST_METHOD") != "POST":
            return self.app(environ, start_response)
        try:
            length = int(environ.get("CONTENT_LENGTH") or -1)
        except ValueError:
            length = -1
        if not 0 < length <= self.max_body:  # let the full path refuse it with its fault
            return self.app(environ, start_response)
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["webob.is_body_seekable"] = True  # WebOb need not copy it again
        if _MARKER in body:
            response = self._answer(environ, body)
        elif self.write_engine is not None and any(m in body for m in _RECEIPT_MARKERS):
            response = self._store(environ, body)
        else:
            return self.app(environ, start_response)
        if response is None:
            environ["wsgi.input"] = io.BytesIO(body)
            return self.app(environ, start_response)
        return response(environ, start_response)

    def _answer(self, environ: dict[str, Any], body: bytes) -> Any:
        request = Request(environ)
        request.registry = self.registry
        request.tm = _NoTransactionManager()
        request_id = uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        for attempt in (1, 2):
            db = self._open()
            request.db = db
            try:
                response = self.endpoint(request, only=READ_ONLY)
            except DBAPIError as exc:
                # a connection the database dropped (restart, failover): it is thrown away,
                # and one more try on a fresh connection answers the Node
                lost = exc.connection_invalidated
                if lost:
                    self._discard()
                if lost and attempt == 1:
                    continue
                response = system_error_view(exc, request)
            except Exception as exc:  # the same PAA_SYSTEM_ERROR answer as the Pyramid path
                response = system_error_view(exc, request)
            finally:
                db.close()
            break
        if response is not None:
            response.headers["X-Request-Id"] = request_id
        return response

    def _store(self, environ: dict[str, Any], body: bytes) -> Any:
        """A receipt answered here (see the module's docstring), or None: the full path."""
        request = Request(environ)
        request.registry = self.registry
        request.tm = doom = _Doom()
        request_id = uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        connection = self._kept_connection("write_connection", self.write_engine)
        # an ordinary receipt is one statement in autocommit on the thread's other connection
        session = driver.use_driver(
            self.factory(bind=connection, info={"request": request}),
            autocommit=self._autocommit if self.on_driver else None,
        )
        if self.defer_messages:
            outbox.defer(session)
        request.db = session
        try:
            try:
                response = self.endpoint(request, only=RECEIPTS)
            except Exception as exc:  # nothing committed: the full path runs it again
                self._roll_back(session, exc)
                log.info("soap.fastpath_handed_on", error=type(exc).__name__)
                return None
            if response is None or doom.doomed:
                session.rollback()
            elif _has_work(session):
                try:
                    session.commit()
                except Exception as exc:  # as pyramid_tm's failed commit: PAA_SYSTEM_ERROR
                    self._roll_back(session, exc)
                    response = system_error_view(exc, request)
        finally:
            session.close()
        if response is not None:
            response.headers["X-Request-Id"] = request_id
        return response

    def _autocommit(self) -> Any:
        """The thread's connection in autocommit (the one verifies use), made again if the
        database dropped it."""
        return self._kept_connection("connection", self.engine)

    def _roll_back(self, session: Session, exc: Exception) -> None:
        """Undo the receipt's transaction; a connection the database dropped is thrown away."""
        with contextlib.suppress(Exception):  # the connection is gone: nothing was committed
            session.rollback()
        connection = getattr(self._local, "write_connection", None)
        lost = isinstance(exc, DBAPIError) and exc.connection_invalidated
        if lost or (connection is not None and connection.invalidated):
            self._discard_write()

    def _discard_write(self) -> None:
        self._drop("write_connection")

    def _open(self) -> Any:
        """What the endpoint gets as ``request.db``; its ``close()`` lets it go."""
        if self.engine is None:  # SQLite: a session of the application's engine
            return self.factory()  # closing it rolls back
        connection = self._kept_connection("connection", self.engine)
        return _ConnectionSession(connection, on_driver=self.on_driver)

    def _kept_connection(self, name: str, engine: Any) -> Any:
        """The thread's connection ``name`` of ``engine``, made if it has none that works."""
        connection = getattr(self._local, name, None)
        if connection is None or connection.invalidated or connection.closed:
            connection = engine.connect()
            setattr(self._local, name, connection)
            with self._kept_lock:
                self._kept = [c for c in self._kept if not c.closed]
                self._kept.append(connection)
        return connection

    def close(self) -> None:
        """Close every connection the threads keep and the fast path's engines (an app that
        is shut down, or a test's app thrown away)."""
        with self._kept_lock:
            kept, self._kept = self._kept, []
        for connection in kept:
            with contextlib.suppress(Exception):
                connection.close()
        for engine in (self.engine, self.write_engine):
            if engine is not None:
                engine.dispose()

    def _discard(self) -> None:
        self._drop("connection")

    def _drop(self, name: str) -> None:
        """Throw away the thread's kept connection ``name``; the next request makes another."""
        connection = getattr(self._local, name, None)
        setattr(self._local, name, None)
        if connection is not None:
            with contextlib.suppress(Exception):  # already gone
                connection.invalidate()
                connection.close()


def _has_work(session: Session) -> bool:
    """Whether committing ``session`` would do anything: an ordinary receipt committed by its
    own statement, its message left to the scheduler's relay, leaves none (a commit would
    begin a transaction only to end it)."""
    return bool(
        session.in_transaction()
        or session.new
        or session.dirty
        or session.deleted
        or session.info.get(outbox.PENDING_KEY)
    )


class _DriverConnection:
    """A Connection as the fast path's reads use it: ``execute(select, params)`` runs on the
    driver where it can (``hub.driver.run``); everything else is the SQLAlchemy Connection's."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    def execute(self, statement: Any, parameters: dict[str, Any] | None = None) -> Any:
        found = driver.run(self._connection, statement, parameters or {})
        if found is None:
            return self._connection.execute(statement, parameters)
        return _Rows(found)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


class _Rows:
    """The part of a Result the fast path's read uses (``notice_summary``: one row or none)."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self._rows = rows

    def one_or_none(self) -> tuple[Any, ...] | None:
        if len(self._rows) > 1:
            raise MultipleResultsFound("more than one row where one at most was expected")
        return self._rows[0] if self._rows else None


class _ConnectionSession:
    """What a verify needs of a Session (``connection()``, nothing pending), on a bare
    autocommit Connection kept by the thread; anything else, such as the station cache loading
    on a miss, gets a real Session bound to the same connection, made on first use."""

    new = dirty = ()

    def __init__(self, connection: Any, *, on_driver: bool) -> None:
        self._connection = connection
        self._driver = _DriverConnection(connection) if on_driver else connection
        self._session: Session | None = None

    def connection(self) -> Any:
        return self._driver

    def __getattr__(self, name: str) -> Any:
        if self._session is None:
            self._session = Session(bind=self._connection)
        return getattr(self._session, name)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()


def _read_only_engine(registry: Any) -> Any:
    """On PostgreSQL an engine of its own in autocommit, without the pre-ping: a verify, and
    an ordinary receipt's one statement, is then one round trip (no SELECT 1, BEGIN, COMMIT
    or ROLLBACK); a dropped connection is retried once instead. None on SQLite, which keeps
    sessions of the application's engine."""
    if registry["db.engine"].dialect.name == "sqlite":
        return None
    settings = from_registry(registry)
    fast = hub_db.make_engine(
        settings.sqlalchemy_url,
        pool_pre_ping=False,
        isolation_level="AUTOCOMMIT",
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
    )
    registry["db.fastpath_engine"] = fast
    return fast


def _write_engine(registry: Any) -> Any:
    """The receipts' engine on PostgreSQL (transactions, no pre-ping: a dropped connection
    sends the receipt to the full path); None on SQLite or with ``soap_fast_receipts`` off."""
    settings = from_registry(registry)
    if registry["db.engine"].dialect.name == "sqlite" or not settings.soap_fast_receipts:
        return None
    engine = hub_db.make_engine(
        settings.sqlalchemy_url,
        pool_pre_ping=False,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
    )
    registry["db.fastpath_write_engine"] = engine
    return engine


def wrap(app: Any) -> Any:
    """Put the fast path in front of ``app`` when the SOAP station is mounted."""
    registry = app.registry
    if "soap.paForNode" not in registry:
        return app
    path = from_registry(registry).soap_path
    return SoapFastPath(app, registry, path)
