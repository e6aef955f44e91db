"""The application factory, /health and request ids, on the embedded default and PostgreSQL."""

from __future__ import annotations

import pytest
from webtest import TestApp

from payhub.app import configure

_engines: list = []


@pytest.fixture(autouse=True)
def _dispose_engines():
    yield
    while _engines:
        _engines.pop().dispose()


def _app(url: str, **extra) -> TestApp:
    settings = {
        "sqlalchemy.url": url,
        "payhub.broker": "stub",
        "payhub.embedded_worker": "false",
        # a Redis broker is not the embedded default: the station must be protected
        "payhub.soap_allowed_networks": "127.0.0.1/32",
        # ... and so are the secrets (several processes share them)
        "payhub.session_secret": "s" * 40,
        "payhub.ops_secret": "o" * 40,
        **extra,
    }
    app = configure(settings).make_wsgi_app()
    _engines.append(app.registry["db.engine"])
    return TestApp(app)


def test_health_on_sqlite_says_database_and_broker_answer(sqlite_engine):
    app = _app(sqlite_engine.url.render_as_string(hide_password=False))
    body = app.get("/health").json
    assert body["status"] == "ok"
    assert body["database"] == {"ok": True, "backend": "sqlite"}
    assert body["broker"]["ok"] is True


@pytest.mark.pg
def test_health_on_postgresql_with_redis(pg_url, redis_url):
    app = _app(pg_url, **{"payhub.broker": "redis", "payhub.redis_url": redis_url})
    body = app.get("/health").json
    assert body["database"]["backend"] == "postgresql" and body["broker"]["backend"] == "redis"
    assert body["status"] == "ok"


def test_health_is_503_when_the_broker_does_not_answer(sqlite_engine):
    app = _app(
        sqlite_engine.url.render_as_string(hide_password=False),
        **{"payhub.broker": "redis", "payhub.redis_url": "redis://127.0.0.1:1/0"},
    )
    response = app.get("/health", status=503)
    assert response.json["broker"]["ok"] is False and response.json["status"] == "unavailable"


def test_a_request_id_is_echoed_or_made_up(sqlite_engine):
    app = _app(sqlite_engine.url.render_as_string(hide_password=False))
    assert (
        app.get("/health", headers={"X-Request-Id": "abc-123"}).headers["X-Request-Id"] == "abc-123"
    )
    made_up = app.get("/health", headers={"X-Request-Id": "<script>"}).headers["X-Request-Id"]
    assert made_up != "<script>" and len(made_up) == 32


def test_the_bare_addresses_lead_to_the_citizens_catalogue(sqlite_engine):
    app = _app(sqlite_engine.url.render_as_string(hide_password=False))
    for path in ("/", "/pay"):
        assert app.get(path, status=302).location.endswith("/pay/")
