"""/health says degraded (still 200) when the outbox backlog is too large or too old."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from hub import outbox
from hub.db import utcnow
from hub.models import OutboxMessage

pytestmark = pytest.mark.pg


def test_a_fresh_backlog_is_ok(build_app, pg_url, committed_factory):
    with committed_factory.begin() as session:
        outbox.enqueue(session, "noop")
    body = build_app(pg_url).get("/health", status=200).json
    assert body["status"] == "ok"
    assert body["backlog"]["ok"] is True and body["backlog"]["outbox"] == 1


def test_an_old_backlog_is_degraded_but_still_200(build_app, pg_url, committed_factory):
    with committed_factory.begin() as session:
        row = outbox.enqueue(session, "noop")
    with committed_factory.begin() as session:
        session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id == row.id)
            .values(created_at=utcnow() - dt.timedelta(minutes=20))
        )
    body = build_app(pg_url).get("/health", status=200).json
    assert body["status"] == "degraded"
    assert body["backlog"]["ok"] is False
    assert "oldest outbox message" in body["backlog"]["reasons"][0]


def test_a_large_backlog_is_degraded_by_the_threshold_setting(build_app, pg_url, committed_factory):
    with committed_factory.begin() as session:
        for n in range(3):
            outbox.enqueue(session, "noop", n=n)
    app = build_app(pg_url, **{"payhub.health_outbox_max_backlog": "2"})
    body = app.get("/health", status=200).json
    assert body["status"] == "degraded"
    assert body["backlog"]["reasons"] == ["outbox backlog 3 > 2"]
    relaxed = build_app(pg_url, **{"payhub.health_outbox_max_backlog": "5"})
    assert relaxed.get("/health").json["status"] == "ok"
