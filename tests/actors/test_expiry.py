"""Expiry: options past their retention date become expired through the state machine, chunk by
chunk, with history; a second run changes nothing; the position follows."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings

from actors import expiry
from hub import clock, payments
from hub.models import DebtPosition, PaymentOption, StateTransition
from tests.factories import make_ente, make_position
from tests.hub.payments import test_setbased as setbased_test

pytestmark = pytest.mark.pg
YESTERDAY = clock.today() - dt.timedelta(days=1)


def _world(factory) -> dict[str, int]:
    with factory.begin() as session:
        ente = make_ente(session)
        ids = {
            "overdue_1": make_position(session, ente, retention_date=YESTERDAY),
            "overdue_2": make_position(session, ente, retention_date=YESTERDAY),
            "overdue_draft": make_position(session, ente, retention_date=YESTERDAY, publish=False),
            "today": make_position(session, ente, retention_date=clock.today()),
            "no_limit": make_position(session, ente),
            "paid": make_position(session, ente, retention_date=YESTERDAY),
            "in_progress": make_position(session, ente, retention_date=YESTERDAY),
        }
        ids = {k: p.options[0].id for k, p in ids.items()}
        for name, event in (("paid", "receive_receipt"), ("in_progress", "activate")):
            payments.apply_event(
                session, payments.lock_option_by_id(session, ids[name]), event, cause="test"
            )
        return ids


def _statuses(factory, ids) -> dict[str, str]:
    with factory() as session:
        return {k: session.get(PaymentOption, v).status for k, v in ids.items()}


def test_overdue_options_expire_in_chunks_with_history_and_the_position_follows(
    committed_factory, stub_broker, stub_worker
):
    ids = _world(committed_factory)
    stub_broker.get_actor(expiry.ACTOR).send(chunk=2)  # three overdue: two messages, then one
    for _ in range(2):
        stub_broker.join("default", timeout=20_000)
        stub_broker.join("webhooks", timeout=20_000)
        stub_worker.join()

    assert _statuses(committed_factory, ids) == {
        "overdue_1": "expired",
        "overdue_2": "expired",
        "overdue_draft": "expired",
        "today": "payable",
        "no_limit": "payable",
        "paid": "paid",
        "in_progress": "in_progress",
    }
    with committed_factory() as session:
        history = session.execute(
            sa.select(
                StateTransition.option_id,
                StateTransition.event,
                StateTransition.from_state,
                StateTransition.cause,
            ).where(StateTransition.to_state == "expired")
        ).all()
        positions = {
            session.get(PaymentOption, ids[k]).position_id for k in ("overdue_1", "overdue_draft")
        }
        position_statuses = {session.get(DebtPosition, p).status for p in positions}
    assert sorted((h.option_id, h.from_state) for h in history) == sorted(
        [
            (ids["overdue_1"], "payable"),
            (ids["overdue_2"], "payable"),
            (ids["overdue_draft"], "draft"),
        ]
    )
    assert {(h.event, h.cause) for h in history} == {("expire", "actor:expire_overdue_options")}
    assert position_statuses == {"expired"}


def test_running_twice_changes_nothing_more(committed_factory):
    ids = _world(committed_factory)
    with committed_factory.begin() as session:
        assert expiry.expire_chunk(session) == (3, False)
    with committed_factory.begin() as session:
        assert expiry.expire_chunk(session) == (0, False)
    with committed_factory() as session:
        count = session.scalar(
            sa.select(sa.func.count())
            .select_from(StateTransition)
            .where(StateTransition.event == "expire")
        )
    assert count == 3 and _statuses(committed_factory, ids)["overdue_1"] == "expired"


def test_the_scheduler_runs_it_daily_and_at_startup(stub_broker):
    from apscheduler.schedulers.background import BackgroundScheduler

    from actors.scheduler import add_jobs

    jobs = {j.id: j for j in add_jobs(BackgroundScheduler(), stub_broker, None, {}).get_jobs()}
    assert str(jobs["expire_overdue_options"].trigger) == "cron[hour='0', minute='5']"
    assert "date" in str(jobs["expire_overdue_options_at_start"].trigger)


def _expire_one_at_a_time(session, now) -> int:
    """The row-by-row path expire_chunk replaced: each overdue option locked, re-checked and
    expired through payments.apply_event."""
    ids = session.scalars(
        sa.select(PaymentOption.id)
        .where(
            PaymentOption.status.in_(expiry.EXPIRABLE),
            PaymentOption.retention_date < clock.business_date(now),
        )
        .order_by(PaymentOption.id)
    ).all()
    expired = 0
    for option_id in ids:
        option = payments.lock_option_by_id(session, option_id)
        if option.status in expiry.EXPIRABLE and option.expires_on < clock.business_date(now):
            payments.apply_event(session, option, "expire", cause=f"actor:{expiry.ACTOR}", now=now)
            expired += 1
    return expired


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=setbased_test.options_spec)
def test_expiry_set_based_in_chunks_is_expiry_one_option_at_a_time(db, spec):
    now = setbased_test.NOW
    results = []
    for set_based in (True, False):
        with db.begin_nested() as savepoint:
            ids = setbased_test.build(db, spec)
            if set_based:
                expired, more = 0, True
                while more:
                    count, more = expiry.expire_chunk(db, now=now, chunk=2)
                    expired += count
            else:
                expired = _expire_one_at_a_time(db, now)
            history = db.execute(
                sa.select(StateTransition.option_id, StateTransition.from_state)
                .where(StateTransition.option_id.in_(ids), StateTransition.event == "expire")
                .order_by(StateTransition.id)
            ).all()
            results.append(
                (
                    expired,
                    setbased_test.snapshot(db, ids, "expire"),
                    [(ids.index(o), f) for o, f in history],
                )
            )
            savepoint.rollback()
    assert results[0] == results[1]
