"""The request gate: what every request must pass before anything reads it.

Pyramid's execution policy is the first code of ours a request meets: before pyramid_retry
copies the body to make it seekable, before a CSRF check parses a form, before a view (level 1's
API) reads JSON. Here:

- **one body-size limit for every route**: ``payhub.max_body_bytes`` (1 MiB) unless the route
  has its own (``add_body_limit(config, route_name, setting)``: bulk loads, bank statements, the
  SOAP station). A declared ``Content-Length`` over the limit is answered 413 unread; a chunked
  body is read up to the limit (spooled to disk above 512 KiB) and refused past it.
- **a path and a query that are UTF-8**: ``/health%ff`` or ``?lang=%ff`` is a 400, not the
  ``UnicodeDecodeError`` Pyramid would turn into a 500.
- **the public address**: with ``payhub.public_url`` (``https://pagamenti.example.it``), every
  link and address the app writes (the WSDL's, Location headers, return URLs) uses it, never the
  ``Host`` header a client sent.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from pyramid.httpexceptions import HTTPBadRequest, HTTPRequestEntityTooLarge
from pyramid.interfaces import IRoutesMapper
from pyramid.response import Response

from hub.config import from_registry

CHUNK = 64 * 1024
REGISTRY_KEY = "web.gate.body_limits"


def add_body_limit(config: Any, route_name: str, max_bytes: int) -> None:
    """Let ``route_name`` accept bodies up to ``max_bytes`` instead of the default."""
    config.registry.setdefault(REGISTRY_KEY, {})[route_name] = int(max_bytes)


class Gate:
    """An execution policy wrapping another (pyramid_retry's)."""

    def __init__(
        self,
        inner: Callable[[dict[str, Any], Any], Any],
        default: int,
        public_url: str | None = None,
    ) -> None:
        self.inner, self.default = inner, default
        self.public = urlsplit(public_url) if public_url else None

    def __call__(self, environ: dict[str, Any], router: Any) -> Any:
        refused = _bad_encoding(environ) or self._bad_body(environ, router)
        if refused is not None:
            return refused
        if self.public is not None:
            scheme, host = self.public.scheme, self.public.netloc
            environ["wsgi.url_scheme"], environ["HTTP_HOST"] = scheme, host
            environ["SERVER_NAME"] = self.public.hostname or host
            environ["SERVER_PORT"] = str(self.public.port or (443 if scheme == "https" else 80))
            environ.pop("HTTP_X_FORWARDED_HOST", None)
        spool = environ.get("web.gate.body_spool")
        received = environ.get("wsgi.input")
        try:
            return self.inner(environ, router)
        finally:
            # the response is built by now: the chunked body read here, and the copy WebOb
            # makes of a large body to make it seekable (a temporary file it never closes),
            # are closed now rather than whenever the garbage collector gets to them
            if spool is not None:
                spool.close()
            copied = environ.get("wsgi.input")
            if copied is not None and copied is not received:  # not the server's own stream
                copied.close()

    def limit(self, environ: dict[str, Any], router: Any) -> int:
        overrides: dict[str, int] = router.registry.get(REGISTRY_KEY, {})
        if overrides:
            mapper = router.registry.queryUtility(IRoutesMapper)
            path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8")
            for name, limit in overrides.items():
                route = mapper.get_route(name) if mapper is not None else None
                if route is not None and route.match(path) is not None:
                    return limit
        return self.default

    def _bad_body(self, environ: dict[str, Any], router: Any) -> Response | None:
        limit = self.limit(environ, router)
        declared = environ.get("CONTENT_LENGTH") or ""
        if declared:
            if not declared.isdigit():
                return _refuse(HTTPBadRequest, "Content-Length is not a number")
            if int(declared) > limit:
                return _too_large(environ, limit)
            return None
        chunked = environ.get("wsgi.input_terminated") or (  # gunicorn and granian say so;
            "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()  # a server that not
        )
        if chunked:  # read at most limit + 1 bytes
            # handed on as the request body (closed once the response is built), or closed now
            spool = tempfile.SpooledTemporaryFile(max_size=512 * 1024)  # noqa: SIM115
            size, source = 0, environ["wsgi.input"]
            while chunk := source.read(min(CHUNK, limit + 1 - size)):
                size += len(chunk)
                spool.write(chunk)
                if size > limit:
                    spool.close()
                    return _too_large(environ, limit)
            spool.seek(0)
            environ["web.gate.body_spool"] = spool
            environ["webob.is_body_seekable"] = True  # WebOb need not copy it again
            environ["wsgi.input"], environ["CONTENT_LENGTH"] = spool, str(size)
            environ["wsgi.input_terminated"] = False
        return None


def _too_large(environ: dict[str, Any], limit: int) -> Response:
    environ["wsgi.input"] = None  # nobody reads what is refused
    response = _refuse(HTTPRequestEntityTooLarge, f"the body is larger than {limit} bytes")
    response.headers["Connection"] = "close"
    return response


def _bad_encoding(environ: dict[str, Any]) -> Response | None:
    try:
        environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8")
        unquote_to_bytes(environ.get("QUERY_STRING", "").replace("+", " ")).decode("utf-8")
    except UnicodeError:
        return _refuse(HTTPBadRequest, "the address is not valid UTF-8")
    return None


def _refuse(kind: type[Any], detail: str) -> Response:
    response = kind(detail=detail)
    response.content_type = "text/plain"
    response.text = f"{response.status}\n{detail}\n"
    return response


def includeme(config: Any) -> None:
    """Wrap the execution policy set so far (pyramid_retry's); include it after pyramid_retry
    and from the root configurator, so that this policy wins."""
    from pyramid.interfaces import IExecutionPolicy
    from pyramid.router import default_execution_policy

    settings = from_registry(config.registry)
    default = settings.max_body_bytes

    def register() -> None:
        inner = config.registry.queryUtility(IExecutionPolicy, default=default_execution_policy)
        gate = Gate(inner, default, settings.public_url or None)
        config.registry.registerUtility(gate, IExecutionPolicy)

    # after every other action: pyramid_retry registers its policy as a deferred action too
    config.action(("web.gate",), register, order=10_000)
