"""A delivery's record of attempts and its retry schedule: each failure recorded (when, where,
size, hash, outcome, error), the next try after a doubling backoff up to its ceiling, dead after
the last attempt, and a new round by hand."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from actors.retry import RetryPolicy
from hub.dailyfile import delivery, files, targets
from hub.db import utcnow
from hub.models import DailyFileDelivery
from tests.hub.dailyfile.data import DAY, a_day

pytestmark = pytest.mark.pg

POLICY = RetryPolicy(max_retries=4, min_backoff_ms=1_000, max_backoff_ms=5_000, timeout_seconds=10)


@pytest.fixture
def one_delivery(db, tmp_path):
    day = a_day(db)
    targets.add_target(db, day.ente, "email", recipients=["ragioneria@comune.example.it"])
    file, _ = files.produce(db, day.ente, "MENSA", DAY, tmp_path)
    (row,) = db.query(DailyFileDelivery).filter_by(file_id=file.id).all()
    return row


def test_each_failure_is_recorded_and_retried_after_a_doubling_backoff_then_dead(db, one_delivery):
    attempts = POLICY.max_retries + 1
    waits = []
    for n in range(1, attempts + 1):
        claimed = delivery.claim(
            db,
            one_delivery.id,
            lease=POLICY.lease,
            max_attempts=attempts,
            now=utcnow() + dt.timedelta(hours=n),
        )
        assert claimed is not None and one_delivery.status == "sending"
        before = utcnow()
        row = delivery.record(
            db,
            one_delivery.id,
            started=before,
            duration_ms=40,
            error=f"e-mail: 127.0.0.1 answered 451 ({n})",
            max_attempts=attempts,
            backoff=POLICY.backoff,
        )
        assert row.attempts == n
        if n < attempts:
            assert row.status == "retrying"
            waits.append((row.next_attempt_at - before).total_seconds())
    # doubling from payhub.daily_file_min_backoff_ms (1 s, 2 s, 4 s, ...), dramatiq's jitter
    # adding up to as much again, and never past the ceiling (5 s; jittered down to half of it)
    bounds = [(1.0, 2.0), (2.0, 4.0), (2.5, 5.0), (2.5, 5.0)]
    assert len(waits) == len(bounds)
    for wait, (low, high) in zip(waits, bounds, strict=True):
        assert low - 0.01 <= wait <= high + 0.5, (waits, bounds)
    assert row.status == "dead" and row.next_attempt_at is None
    assert row.last_error == "e-mail: 127.0.0.1 answered 451 (5)"
    log = row.attempt_log
    assert [a.outcome for a in log] == ["error"] * attempts
    assert {(a.where, a.size, a.sha256) for a in log} == {
        (row.where, row.file.size, row.file.sha256)
    }
    assert all(a.started_at is not None and a.duration_ms == 40 for a in log)
    # dead: nothing more is tried until someone delivers it again by hand
    assert delivery.claim(db, row.id, lease=POLICY.lease, max_attempts=attempts) is None
    delivery.redeliver(db, row)
    assert (row.status, row.attempts, row.replays) == ("pending", 0, 1)
    assert delivery.claim(db, row.id, lease=POLICY.lease, max_attempts=attempts) is not None


def test_a_retry_is_not_taken_before_its_time(db, one_delivery):
    delivery.claim(db, one_delivery.id, lease=POLICY.lease, max_attempts=5)
    row = delivery.record(
        db,
        one_delivery.id,
        started=utcnow(),
        duration_ms=1,
        error="SFTP: timed out",
        max_attempts=5,
        backoff=lambda n: dt.timedelta(minutes=10),
    )
    assert delivery.claim(db, row.id, lease=POLICY.lease, max_attempts=5) is None
    later = utcnow() + dt.timedelta(minutes=11)
    assert delivery.claim(db, row.id, lease=POLICY.lease, max_attempts=5, now=later) is not None


def test_supports_given_up_list_is_read_through_the_status_index(db, one_delivery):
    """The dead letters of every Ente (hub.dailyfile.delivery.given_up) come from the index on
    (status, id), not from reading every delivery ever made: PostgreSQL's plan for the very
    statement the list runs, with sequential scans priced out, uses it."""
    one_delivery.status = "dead"
    db.flush()
    seen: list[tuple[str, object]] = []
    bind = db.connection().engine

    def keep(conn, cursor, statement, parameters, context, executemany):
        if "FROM daily_file_delivery JOIN daily_file" in statement:
            seen.append((statement, parameters))

    sa.event.listen(bind, "before_cursor_execute", keep)
    try:
        assert [d.id for d, _, _ in delivery.given_up(db)] == [one_delivery.id]
    finally:
        sa.event.remove(bind, "before_cursor_execute", keep)
    ((statement, parameters),) = seen
    connection = db.connection()
    connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    plan = "\n".join(
        row[0] for row in connection.exec_driver_sql("EXPLAIN " + statement, parameters)
    )
    assert "ix_daily_file_delivery_status" in plan, plan
