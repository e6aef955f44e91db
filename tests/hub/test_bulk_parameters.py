"""Bulk statements stay below PostgreSQL's limit of 65,535 parameters per statement: each is
run here with 100,000 ids (issue 21), on PostgreSQL, with no monkeypatched chunk size."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from hub import outbox
from hub.models import OutboxMessage, ReportingFlow
from hub.reconciliation import flows, statements
from tests.factories import make_ente

pytestmark = pytest.mark.pg
N = 100_000
LIMIT = 65_535


def _messages(db) -> list[dict]:
    db.execute(
        sa.text(
            "INSERT INTO outbox_message (message_id, queue_name, actor_name, args, created_at, "
            "attempts) SELECT md5(g::text)::uuid::text, 'default', 'probe', "
            "json_build_object('key', g), now(), 0 FROM generate_series(1, :n) AS g"
        ),
        {"n": N},
    )
    rows = db.execute(sa.select(OutboxMessage.id, OutboxMessage.message_id)).all()
    assert len(rows) == N > LIMIT
    return [
        {"id": row_id, "message_id": mid, "queue_name": "default", "actor_name": "probe"}
        for row_id, mid in rows
    ]


def test_marking_100000_outbox_messages_sent_marks_every_one(db):
    messages = _messages(db)
    outbox.mark_sent(db, messages, lease=dt.timedelta(seconds=60))
    sent = db.scalar(
        sa.select(sa.func.count()).where(
            OutboxMessage.sent_at.is_not(None), OutboxMessage.attempts == 1
        )
    )
    assert sent == N


def test_giving_up_100000_outbox_messages_gives_up_every_one(db):
    ids = [m["id"] for m in _messages(db)]
    outbox.give_up(db, ids, reason="test")
    assert db.scalar(sa.select(sa.func.count()).where(OutboxMessage.dead_at.is_not(None))) == N


def test_looking_up_100000_flow_ids_answers(db):
    ente = make_ente(db)
    names = [f"2026-12-01BCITITMM-{k:06d}" for k in range(N)]
    assert flows.stored_versions(db, ente.id, names) == set()
    assert statements._latest_flows(db, ente.id, set(names)) == {}
    assert db.scalar(sa.select(sa.func.count()).select_from(ReportingFlow)) == 0


def test_reconciling_100000_flows_named_at_once_answers(db):
    # flows that report nothing: the statement's set-based reconciliation reads, locks and
    # updates through array parameters and chunks, whatever the number of flows
    credited = [(k, f"credit:{k}") for k in range(1, N + 1)]
    assert statements.reconcile_flows(db, credited, now=dt.datetime.now(dt.UTC)) == 0
