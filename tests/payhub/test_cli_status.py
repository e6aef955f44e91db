"""`payhub status`: the figures of /metrics at a glance, as text or JSON."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from hub import outbox
from hub.db import utcnow
from hub.models import OutboxMessage
from payhub.cli import main

pytestmark = pytest.mark.pg


def _ini(tmp_path: Path, url: str, **settings: str) -> str:
    values = {
        "sqlalchemy.url": url,
        "payhub.broker": "stub",
        "payhub.log_level": "WARNING",
        **settings,
    }
    lines = [f"{k} = {v}" for k, v in values.items()]
    ini = tmp_path / "status.ini"
    ini.write_text("[app:main]\nuse = call:payhub.app:main\n" + "\n".join(lines) + "\n")
    return str(ini)


def test_status_prints_the_backlog_and_says_degraded_when_old(tmp_path, pg_url, committed_factory):
    ini = _ini(tmp_path, pg_url)
    quiet = CliRunner().invoke(main, ["-c", ini, "status"])
    assert quiet.exit_code == 0, quiet.output
    assert "outbox     0 open" in quiet.output and "health     ok" in quiet.output
    assert "queues     in-process (stub broker)" in quiet.output

    with committed_factory.begin() as session:
        row = outbox.enqueue(session, "noop")
    with committed_factory.begin() as session:
        session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id == row.id)
            .values(created_at=utcnow() - dt.timedelta(hours=1))
        )
    busy = CliRunner().invoke(main, ["-c", ini, "status"])
    assert "outbox     1 open, oldest 3600 s" in busy.output
    assert "health     degraded: oldest outbox message 3600 s old > 300 s" in busy.output


def test_status_json_counts_the_redis_queues(tmp_path, pg_url, redis_url, committed_factory):
    ini = _ini(
        tmp_path,
        pg_url,
        **{
            "payhub.broker": "redis",
            "payhub.redis_url": redis_url,
            "payhub.redis_namespace": "status-test",
        },
    )
    result = CliRunner().invoke(main, ["-c", ini, "status", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["outbox_backlog"] == 0 and figures["backlog_problems"] == []
    assert figures["queues"]["default"] == {"ready": 0, "in_flight": 0, "delayed": 0, "dead": 0}
    assert set(figures) >= {"deliveries", "receipts_per_minute", "station"}


def test_status_lists_dead_outbox_messages_apart_from_the_backlog(
    tmp_path, pg_url, committed_factory
):
    with committed_factory.begin() as session:
        row = outbox.enqueue(session, "noop")
    with committed_factory.begin() as session:
        outbox.give_up(session, [row.id], reason="not processed after 10 sends")
    ini = _ini(tmp_path, pg_url)
    text = CliRunner().invoke(main, ["-c", ini, "status"]).output
    assert "outbox     0 open, oldest 0 s, 1 dead" in text
    assert f"dead       #{row.id} noop after 0 sends" in text
    assert "not processed after 10 sends" in text and "0 expired claims" in text
    figures = json.loads(CliRunner().invoke(main, ["-c", ini, "status", "--json"]).output)
    assert [m["id"] for m in figures["outbox_dead_messages"]] == [row.id]
    assert figures["outbox_dead"] == 1 and figures["deliveries_expired_claims"] == 0
