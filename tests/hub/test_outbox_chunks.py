"""``outbox.enqueue_chunks``: one message per chunk of ids, every id once and in order; relayed
after the commit or left to the sweeper; and ``payments.record_transitions`` writes one message
per chunk for many changes, one per option for one."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from hub import outbox, payments
from hub.models import OutboxMessage
from tests.factories import make_ente, make_position

pytestmark = pytest.mark.pg


def test_ids_go_in_chunks_in_order_each_once(db):
    ids = list(range(1, 2501))
    assert outbox.enqueue_chunks(db, "some_actor", "option_ids", ids, event="report") == 3
    db.flush()
    rows = db.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert [len(r.args["option_ids"]) for r in rows] == [1000, 1000, 500]
    assert [i for r in rows for i in r.args["option_ids"]] == ids
    assert {r.args["event"] for r in rows} == {"report"}
    assert len(outbox.take_pending(db)) == 3  # relayed after the commit


def test_without_relay_the_chunks_are_left_to_the_sweeper(db):
    outbox.enqueue_chunks(db, "some_actor", "option_ids", [1, 2, 3], relay=False)
    db.flush()
    assert db.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 1
    assert outbox.take_pending(db) == []


def test_many_changes_are_followed_up_by_chunk_one_change_by_option(db):
    ente = make_ente(db)
    options = [make_position(db, ente).options[0] for _ in range(3)]
    now = dt.datetime(2026, 12, 7, 10, tzinfo=dt.UTC)
    changes = [(o.id, "payable", "cancelled") for o in options]
    db.execute(sa.delete(OutboxMessage))
    payments.record_transitions(db, changes[:2], "cancel", cause="test", now=now)
    payments.record_transitions(db, changes[2:], "cancel", cause="test", now=now)
    db.flush()
    chunk, single = db.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert chunk.args["option_ids"] == [options[0].id, options[1].id]
    assert single.args["option_id"] == options[2].id
    assert [c for m in (chunk, single) for c in payments.followed_up(m.args)] == changes
