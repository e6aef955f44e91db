"""Set-based transitions (hub.payments.setbased) give exactly what firing the event one option
at a time through ``payments.apply_event`` gives: the same states and versions, history and
follow-up messages, on random options (hypothesis); and a statement naming 100,000 ids stays
below the driver's parameter limit."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from hub import clock, payments
from hub.models import OutboxMessage, PaymentOption, StateTransition
from hub.payments import setbased
from tests.factories import make_ente, make_position
from workflows.payment import IllegalTransition, OptionStatus

pytestmark = pytest.mark.pg
NOW = dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.UTC)
TODAY = clock.business_date(NOW)
RETENTION = [None, TODAY - dt.timedelta(days=7), TODAY - dt.timedelta(days=1), TODAY]
# how each option is brought to its state before the event: published or not, then events
HISTORIES = [
    (False, ()),
    (True, ()),
    (True, ("activate",)),
    (True, ("receive_receipt",)),
    (True, ("cancel",)),
    (False, ("cancel",)),
]
# when an activated option's activation lapses (None: never set, as a bare ``activate``)
LAPSES = [None, NOW - dt.timedelta(minutes=1), NOW, NOW + dt.timedelta(minutes=1)]
options_spec = st.lists(
    st.tuples(st.sampled_from(HISTORIES), st.sampled_from(RETENTION), st.sampled_from(LAPSES)),
    min_size=1,
    max_size=8,
)
EVENTS = ["expire", "cancel", "publish", "report", "activation_expired"]
CAUSE = "under test"  # the setup's own transitions have another cause


def build(session: Session, spec: list[tuple[Any, ...]]) -> list[int]:
    """Options in the states ``spec`` asks, through the machine (each spec: (published,
    events), retention date, optionally when its activation lapses); their ids in order."""
    ente = make_ente(session)
    ids = []
    for (publish, events), retention, *lapse in spec:
        option = make_position(session, ente, publish=publish, retention_date=retention).options[0]
        for event in events:
            payments.apply_event(session, option, event, cause="setup", now=NOW)
        if lapse and "activate" in events:
            option.activation_expires_at = lapse[0]
        ids.append(option.id)
    session.flush()
    return ids


def one_at_a_time(session: Session, ids: list[int], event: str, cause: str) -> int:
    """The row-by-row path: each option locked, the machine fired, history and message
    written one at a time; refused options left alone."""
    moved = 0
    for option_id in sorted(set(ids)):
        option = payments.lock_option_by_id(session, option_id)
        try:
            payments.apply_event(session, option, event, cause=cause, now=NOW)
        except IllegalTransition:
            continue
        moved += 1
    return moved


def snapshot(session: Session, ids: list[int], event: str) -> dict[str, Any]:
    session.flush()
    session.expire_all()
    rank = {option_id: n for n, option_id in enumerate(ids)}
    return {
        "options": [
            (rank[o.id], o.status, o.version)
            for o in session.scalars(
                sa.select(PaymentOption).where(PaymentOption.id.in_(ids)).order_by(PaymentOption.id)
            )
        ],
        "history": [
            (rank[h.option_id], h.event, h.from_state, h.to_state, h.cause, h.created_at)
            for h in session.scalars(
                sa.select(StateTransition)
                .where(StateTransition.option_id.in_(ids), StateTransition.cause == CAUSE)
                .order_by(StateTransition.id)
            )
        ],
        # one message per option or per chunk of options: compared per option followed up
        "messages": sorted(
            (rank[option_id], m.actor_name, from_state, to_state)
            for m in session.scalars(sa.select(OutboxMessage))
            if m.args.get("event") == event
            for option_id, from_state, to_state in payments.followed_up(m.args)
            if option_id in rank
        ),
    }


def compare(session: Session, spec: Any, event: str, monkeypatch: Any) -> None:
    results = []
    for set_based in (True, False):
        with session.begin_nested() as savepoint:
            ids = build(session, spec)
            with monkeypatch.context() as patch:
                patch.setattr(setbased, "CHUNK", 3)  # chunks that split the options
                if set_based:
                    moved = len(setbased.fire_many(session, ids, event, cause=CAUSE, now=NOW))
                else:
                    moved = one_at_a_time(session, ids, event, CAUSE)
            results.append((moved, snapshot(session, ids, event)))
            savepoint.rollback()
    set_based_result, row_by_row = results
    assert set_based_result == row_by_row


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=options_spec, event=st.sampled_from(EVENTS))
def test_an_event_fired_set_based_is_the_event_fired_one_option_at_a_time(
    db, monkeypatch, spec, event
):
    compare(db, spec, event, monkeypatch)


def test_the_machine_is_asked_once_per_state_and_retention_date(db, monkeypatch):
    ids = build(db, [((True, ()), RETENTION[1])] * 4 + [((False, ()), RETENTION[2])] * 3)
    asked = []
    real = setbased.next_state

    def counting(*args: Any, **kwargs: Any) -> Any:
        asked.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(setbased, "next_state", counting)
    changes = setbased.fire_many(db, ids, "expire", cause="test", now=NOW)
    assert len(changes) == 7 and len(asked) == 2


def test_a_hundred_thousand_ids_stay_below_the_parameter_limit(db):
    # one array parameter per statement on PostgreSQL: 100,000 placeholders would be refused
    ids = build(db, [((True, ()), RETENTION[1])])
    every = list(range(10**9, 10**9 + 100_000)) + ids
    rows = setbased.lock_options(db, every)
    assert list(rows) == ids
    changes = setbased.fire_many(db, every, "expire", cause="test", now=NOW)
    assert [c[0] for c in changes] == ids


def test_an_option_held_by_the_session_is_brought_in_line(db):
    ids = build(db, [((True, ()), None)])
    option = db.get(PaymentOption, ids[0])
    version = option.version
    setbased.fire_many(db, ids, "cancel", cause="test", now=NOW)
    assert (option.status, option.version) == ("cancelled", version + 1)
    db.flush()  # the version the session holds matches the row: no StaleDataError


def test_the_embedded_sqlite_database_takes_the_same_path(sqlite_engine):
    # the demo's database: no COPY, no array parameter; the same states and history
    with Session(sqlite_engine, expire_on_commit=False) as session, session.begin():
        ids = build(session, [((True, ()), RETENTION[1]), ((False, ()), None)] * 2)
        changes = setbased.fire_many(session, ids, "expire", cause=CAUSE, now=NOW)
        assert [c[0] for c in changes] == [ids[0], ids[2]]
        history = snapshot(session, ids, "expire")["history"]
    assert [(h[0], h[2], h[3]) for h in history] == [
        (0, "payable", "expired"),
        (2, "payable", "expired"),
    ]


def test_lapsed_activations_move_set_based_only_the_lapsed_ones(db):
    ids = build(
        db,
        [
            ((True, ("activate",)), None, NOW - dt.timedelta(minutes=5)),
            ((True, ("activate",)), None, NOW + dt.timedelta(minutes=5)),
            ((True, ("activate",)), None, NOW - dt.timedelta(seconds=1)),
            ((True, ()), None, None),
        ],
    )
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        statements.append(statement)

    sa.event.listen(db.get_bind(), "before_cursor_execute", seen)
    try:
        assert payments.expire_lapsed_activations(db, now=NOW) == 2
    finally:
        sa.event.remove(db.get_bind(), "before_cursor_execute", seen)
    db.expire_all()
    states = [db.get(PaymentOption, option_id).status for option_id in ids]
    payable, in_progress = OptionStatus.PAYABLE, OptionStatus.IN_PROGRESS
    assert states == [payable, in_progress, payable, payable]
    history = db.scalars(
        sa.select(StateTransition.option_id).where(
            StateTransition.event == "activation_expired", StateTransition.cause == "scheduler"
        )
    ).all()
    assert sorted(history) == [ids[0], ids[2]]
    # one lock and one UPDATE for both, not a lock and an update per option
    assert sum("FOR UPDATE" in s for s in statements) == 1
    assert sum(s.lstrip().upper().startswith("UPDATE PAYMENT_OPTION") for s in statements) == 1
