"""Shared fixtures: a throwaway PostgreSQL database migrated with Alembic, Redis, sessions.

``db`` wraps each test in a transaction rolled back at teardown. Tests of concurrency need
commits visible to other connections: they use ``committed_factory`` and the tables are
emptied afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from lxml import etree
from sqlalchemy.orm import Session, sessionmaker

from hub.db import Base, make_engine
from hub.migrate import upgrade
from tests.servers.ftps import ftps, ftps_server  # noqa: F401  (issue 18: FTPS)
from tests.servers.sftp import sftp, sftp_server  # noqa: F401  (issue 18: SFTP)
from tests.servers.smtp import smtp, smtp_server  # noqa: F401  (fixtures for every test)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
PG_ADMIN_URL = os.environ.get(
    "PAYHUB_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("PAYHUB_TEST_REDIS", "redis://127.0.0.1:6379/15")
# commands run in-process configure logging; captured logs must see later configurations
os.environ.setdefault("PAYHUB_TEST_LOG_NO_CACHE", "1")


def shared_path(*parts: str) -> Path:
    """A file under ../shared, or skip the test saying it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared is not beside the checkout)")
    return path


def shared_schema(*parts: str) -> etree.XMLSchema:
    """An official schema under ../shared, parsed without network or entities (or skip)."""
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    return etree.XMLSchema(etree.parse(str(shared_path(*parts)), parser))


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"payhub_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(
            sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
            {"n": name},
        )
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.fixture(scope="session")
def pg_engine(pg_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(pg_url, pool_size=20, max_overflow=40)
    yield engine
    engine.dispose()


@pytest.fixture
def db(pg_engine: sa.Engine) -> Iterator[Session]:
    """A session whose every change is rolled back after the test."""
    with pg_engine.connect() as conn:
        outer = conn.begin()
        session = Session(
            bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        try:
            yield session
        finally:
            session.close()
            outer.rollback()


def _truncate(engine: sa.Engine) -> None:
    names = ", ".join(f'"{t.name}"' for t in reversed(Base.metadata.sorted_tables))
    with engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture
def committed_factory(pg_engine: sa.Engine) -> Iterator[sessionmaker[Session]]:
    """Sessions that really commit (for tests across connections); tables emptied after."""
    _truncate(pg_engine)
    yield sessionmaker(bind=pg_engine, expire_on_commit=False)
    _truncate(pg_engine)


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'payhub.sqlite'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def redis_url() -> Iterator[str]:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture
def local_targets(monkeypatch) -> None:
    """Outgoing calls (webhooks, back-office lookups) may reach plain-http receivers on
    127.0.0.1, as development.ini allows (the outgoing URL policy refuses them by default)."""
    import ipaddress

    from hub import http

    policy = http.UrlPolicy(True, (ipaddress.ip_network("127.0.0.0/8"),))
    monkeypatch.setattr(http, "_policy", policy)


@pytest.fixture(autouse=True)
def _dispose_app_engines(monkeypatch):
    """Apps built in a test get their engine from hub.db.includeme: close its pool after the
    test so no connection is left to the garbage collector (ResourceWarning)."""
    import hub.db

    created: list[sa.Engine] = []
    real = hub.db.make_engine

    def recording(url: str, **kwargs):
        engine = real(url, **kwargs)
        created.append(engine)
        return engine

    monkeypatch.setattr(hub.db, "make_engine", recording)
    yield
    for engine in created:
        engine.dispose()
