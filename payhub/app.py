"""The Pyramid application factory (``main``), pointed at by development.ini."""

from __future__ import annotations

from typing import Any

from pyramid.config import Configurator
from pyramid.request import Request

from hub import config as hub_config


class PayhubRequest(Request):
    # pyramid_retry makes every body seekable; above this size WebOb spools it to a temporary
    # file it never closes. SOAP bodies are refused above 256 KiB anyway.
    request_body_tempfile_limit = 512 * 1024


def main(global_config: dict[str, Any] | None = None, **settings: Any) -> Any:
    """Build the WSGI app from .ini settings (overridden by DATABASE_URL, REDIS_URL, ...)."""
    return make_app(settings)


def make_app(settings: dict[str, Any]) -> Any:
    """The WSGI app: Pyramid, with the SOAP station's read-only fast path in front of it."""
    from soap.fastpath import wrap

    return wrap(configure(settings).make_wsgi_app())


def configure(settings: dict[str, Any]) -> Configurator:
    # the secrets are checked before anything starts: a placeholder is a deployment bug
    settings_object = hub_config.start(settings, web=True)
    pyramid_settings = settings_object.pyramid_settings()
    pyramid_settings.setdefault("tm.manager_hook", "pyramid_tm.explicit_manager")
    pyramid_settings.setdefault("retry.attempts", "3")
    config = Configurator(settings=pyramid_settings, request_factory=PayhubRequest)
    config.registry[hub_config.REGISTRY_KEY] = settings_object  # views: request.registry
    # Order matters:
    # 1. pyramid_retry and pyramid_tm first: every later view runs inside a retried transaction.
    config.include("pyramid_retry")
    config.include("pyramid_tm")
    # 1b. the request gate wraps pyramid_retry's policy: body-size limits and UTF-8 addresses
    # are checked before pyramid_retry copies the body, a CSRF check parses it or a view reads
    config.include("web.gate")
    # 1c. security headers on every answer (frame-ancestors, nosniff, HSTS, no-store, CSP)
    config.include("web.headers")
    # 2. the database: request.db, needed by everything below.
    config.include("hub.db")
    # 3. the broker and outbox relay: hooks the session factory registered in 2.
    config.include("actors")
    # 4. request ids and logging context, then the adapters, each under its own prefix.
    config.include("web.logging")
    config.include("soap")
    config.include("web")
    config.include("sla_monitor")
    # 5. the pagoPA simulator at /sim, for `make demo` only; it calls us back over HTTP.
    if settings_object.mount_nodesim:
        config.include("nodesim.pyramid")
    return config
