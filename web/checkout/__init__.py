"""Citizen checkout (pagoPA level 2): catalogue, forms, cart, return page, receipt.

Server-rendered Jinja2 pages (pyramid_jinja2), Italian and English (gettext, ``web/checkout/
locale``), static assets served from ``web/checkout/static`` (no CDN). The cart lives in the
database; a signed session cookie (Secure, HttpOnly, SameSite=Lax) carries its id and the CSRF
token that every form posts.
"""

from __future__ import annotations

import secrets
from typing import Any

import structlog
from pyramid.events import BeforeRender
from pyramid.session import JSONSerializer, SignedCookieSessionFactory

from hub.checkout import client_from_settings
from hub.config import from_registry
from web.checkout.ratelimit import LookupLimit

log = structlog.get_logger(__name__)


def includeme(config: Any) -> None:
    settings = config.get_settings()
    settings.setdefault("jinja2.i18n.domain", "payhub")
    settings.setdefault("jinja2.newstyle", "true")
    # times are shown in Italian time, everywhere the same way: {{ moment|rome(zone=True) }}
    filters = settings.get("jinja2.filters") or ""
    if "hub.clock.show" not in str(filters):
        settings["jinja2.filters"] = f"{filters}\nrome = hub.clock.show".strip()
    config.include("pyramid_jinja2")
    config.add_translation_dirs("web.checkout:locale")
    typed = from_registry(config.registry)
    secret = typed.session_secret
    if not secret:
        # fine for one process; every process of a real deployment needs the same secret
        log.warning("checkout.session_secret_missing")
        secret = secrets.token_hex(32)
    config.set_session_factory(
        SignedCookieSessionFactory(
            secret,
            cookie_name="payhub_session",
            salt="payhub.session.",
            secure=typed.session_cookie_secure,
            httponly=True,
            samesite="Lax",
            timeout=typed.session_timeout,
            reissue_time=60,
            serializer=JSONSerializer(),
        )
    )
    config.registry["checkout.client"] = client_from_settings(typed)
    config.registry["checkout.lookup_limiter"] = LookupLimit(
        typed.lookup_per_minute, typed.lookup_burst
    )
    config.add_subscriber(_template_globals, BeforeRender)
    config.add_static_view("static", "web.checkout:static", cache_max_age=3600)
    for name, pattern in (
        ("checkout.home", "/"),
        ("checkout.ente", "/enti/{ec}"),
        ("checkout.notice", "/enti/{ec}/notice"),
        ("checkout.service", "/enti/{ec}/services/{code}"),
        ("checkout.cart", "/cart"),
        ("checkout.remove", "/cart/remove"),
        ("checkout.submit", "/cart/checkout"),
        ("checkout.return", "/carts/{cart}/return/{hint}"),
        ("checkout.status", "/carts/{cart}"),
        ("checkout.receipt", "/carts/{cart}/receipt.pdf"),
    ):
        config.add_route(name, pattern)
    config.scan("web.checkout.views")


def _template_globals(event: Any) -> None:
    """Add the CSRF token and the language to our own templates only (not JSON answers)."""
    name = event.get("renderer_name") or ""
    if not name.startswith(("web.checkout:", "web.level1:")):
        return
    from pyramid.csrf import get_csrf_token

    request = event["request"]
    event["csrf_token"] = get_csrf_token(request)
    event["lang"] = request.localizer.locale_name
    event["t"] = request.localizer.translate
    event.setdefault("refresh", False)
    event.setdefault("errors", {})
