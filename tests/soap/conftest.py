"""SOAP fixtures: the whole Pyramid app over WebTest, the official schema, seeded tenants."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree
from webtest import TestApp

from hub.seed import seed_demo
from tests.conftest import shared_path, shared_schema
from tests.soap import soapcheck


def app_settings(pg_url: str, **extra: str) -> dict[str, str]:
    return {
        "sqlalchemy.url": pg_url,
        "payhub.broker": "stub",
        "payhub.embedded_worker": "false",
        "payhub.log_level": "WARNING",
        "payhub.soap_station_cache_seconds": "0",
        **extra,
    }


def build_app(pg_url: str, **extra: str):
    from payhub.app import make_app

    return make_app(app_settings(pg_url, **extra))


@pytest.fixture(scope="session")
def wsgi_app(pg_url: str):
    app = build_app(pg_url)
    yield app
    app.close()  # the fast path's kept connections
    app.registry["db.engine"].dispose()


@pytest.fixture
def make_app(pg_url: str, seeded):
    """make_app(**settings) -> a TestApp over an app built with extra settings."""
    built = []

    def make(**extra: str) -> TestApp:
        built.append(build_app(pg_url, **extra))
        return TestApp(built[-1])

    yield make
    for app in built:
        app.close()  # the fast path's kept connections
        app.registry["db.engine"].dispose()


@pytest.fixture
def seeded(committed_factory):
    """The demo tenants and positions (SANP notice included), committed; emptied after."""
    with committed_factory() as session:
        seed_demo(session)
        session.commit()
    return committed_factory


@pytest.fixture
def app(wsgi_app, seeded) -> TestApp:
    return TestApp(wsgi_app)


@pytest.fixture(scope="session")
def official_xsd() -> etree.XMLSchema:
    return shared_schema("pagopa", "wsdl", "xsd", "paForNode.xsd")


@pytest.fixture
def check(official_xsd):
    """check(body_bytes) -> the response wrapper, after every check the Node would make."""
    return lambda body: soapcheck.check_response(body, official_xsd)


@pytest.fixture(scope="session")
def samples() -> Path:
    return shared_path("peer-material", "soap-samples")


def iter_children(elt) -> Iterator:
    return (c for c in elt if isinstance(c.tag, str))
