"""The read-only fast path: paVerifyPaymentNotice answered in front of Pyramid.

paVerify is the station's most frequent call and writes nothing, so it needs neither
pyramid_tm's transaction manager nor pyramid_retry. This WSGI middleware gives it a plain
session (rolled back at the end) and the same endpoint object, checks and answers as the
Pyramid view; every other request, or a body that turns out to be another operation, goes on to
the Pyramid application untouched.
"""

from __future__ import annotations

import io
import uuid
from typing import Any

import structlog
from pyramid.request import Request
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from hub import db as hub_db
from soap.dispatch import system_error_view

READ_ONLY = frozenset({"paVerifyPaymentNotice"})
_MARKER = b"paVerifyPaymentNoticeReq"


class _NoTransactionManager:
    """What the endpoint calls on ``request.tm``: a read-only session has nothing to doom."""

    def doom(self) -> None:
        pass


class SoapFastPath:
    def __init__(self, app: Any, registry: Any, path: str) -> None:
        self.app = app
        self.registry = registry
        self.path = path
        self.endpoint = registry["soap.paForNode"]
        self.factory = registry["db.session_factory"]
        self.engine = _read_only_engine(registry)
        self.max_body = self.endpoint.config.max_body_bytes

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
        if _MARKER not in body:
            return self.app(environ, start_response)
        response = self._answer(environ, body)
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
            db, close = self._open()
            request.db = db
            try:
                response = self.endpoint(request, only=READ_ONLY)
            except DBAPIError as exc:
                # a pooled connection the database dropped (restart, failover): the pool is
                # invalidated, and one more try on a fresh connection answers the Node
                if exc.connection_invalidated and attempt == 1:
                    continue
                response = system_error_view(exc, request)
            except Exception as exc:  # the same PAA_SYSTEM_ERROR answer as the Pyramid path
                response = system_error_view(exc, request)
            finally:
                close()
            break
        if response is not None:
            response.headers["X-Request-Id"] = request_id
        return response


    def _open(self) -> tuple[Any, Any]:
        """What the endpoint gets as ``request.db``, and how to let it go."""
        if self.engine is None:  # SQLite: a session of the application's engine
            session: Session = self.factory()

            def close_session() -> None:
                session.rollback()
                session.close()
            return session, close_session
        connection = self.engine.connect()
        db = _ConnectionSession(connection)

        def close_connection() -> None:
            db.close()
            connection.close()
        return db, close_connection


class _ConnectionSession:
    """What a verify needs of a Session (``connection()``, nothing pending), on a bare
    autocommit Connection; anything else, such as the station cache loading on a miss, gets a
    real Session bound to the same connection, made on first use."""

    new = dirty = ()

    def __init__(self, connection: Any) -> None:
        self._connection = connection
        self._session: Session | None = None

    def connection(self) -> Any:
        return self._connection

    def __getattr__(self, name: str) -> Any:
        if self._session is None:
            self._session = Session(bind=self._connection)
        return getattr(self._session, name)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()


def _read_only_engine(registry: Any) -> Any:
    """On PostgreSQL an engine of its own in autocommit, without the pre-ping: a verify is
    then one round trip (no SELECT 1, BEGIN or ROLLBACK); a dropped connection is retried once
    instead. None on SQLite, which keeps sessions of the application's engine."""
    if registry["db.engine"].dialect.name == "sqlite":
        return None
    settings = registry.settings
    fast = hub_db.make_engine(settings["sqlalchemy.url"], pool_pre_ping=False,
                              isolation_level="AUTOCOMMIT",
                              pool_size=int(settings.get("payhub.db_pool_size", 20)),
                              max_overflow=int(settings.get("payhub.db_max_overflow", 20)))
    registry["db.fastpath_engine"] = fast
    return fast


def wrap(app: Any) -> Any:
    """Put the fast path in front of ``app`` when the SOAP station is mounted."""
    registry = app.registry
    if "soap.paForNode" not in registry:
        return app
    path = registry.settings.get("payhub.soap_path", "/soap/paForNode")
    return SoapFastPath(app, registry, path)
