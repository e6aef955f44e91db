"""Publishing or cancelling many positions set-based (hub.positions.bulk_changes) gives exactly
what the one-position writer gives, position by position (``ensure_changeable`` then
``publish_position`` / ``cancel_position``, refusals skipped): the same option states and
versions, history, follow-up messages, position statuses and versions, on random positions
(hypothesis)."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from hub import payments
from hub.errors import Conflict
from hub.models import DebtPosition, OutboxMessage, PaymentOption, StateTransition
from hub.payments import setbased
from hub.positions import bulk_changes, writer
from tests.factories import make_ente, make_plan_position, make_position
from workflows.payment import IllegalTransition

pytestmark = pytest.mark.pg
CAUSE = "under test"
# events fired on an option of the position before the change (index, event)
SETUP = [(), ("activate",), ("receive_receipt",), ("cancel",)]
position_spec = st.tuples(
    st.booleans(),  # a plan (full + three instalments) rather than one option
    st.booleans(),  # published
    st.lists(st.tuples(st.integers(0, 3), st.sampled_from(SETUP)), max_size=2),
)
positions_spec = st.lists(position_spec, min_size=1, max_size=5)


def build(session: Session, spec: list[Any]) -> list[int]:
    ente = make_ente(session)
    ids = []
    for plan, publish, touches in spec:
        maker = make_plan_position if plan else make_position
        position = maker(session, ente, publish=publish)
        for index, events in touches:
            option = position.options[index % len(position.options)]
            for event in events:
                with contextlib.suppress(IllegalTransition):  # a receipt on a cancelled option
                    payments.apply_event(session, option, event, cause="setup")
        ids.append(position.id)
    session.flush()
    return ids


def one_at_a_time(session: Session, ids: list[int], event: str) -> int:
    done = 0
    for position_id in sorted(ids):
        position = session.get(DebtPosition, position_id)
        try:
            if event == "publish":
                writer.ensure_changeable(writer.lock_options(session, position))
                writer.publish_position(session, position, cause=CAUSE)
            else:
                writer.cancel_position(session, position, cause=CAUSE)
        except Conflict:
            continue
        done += 1
    return done


def snapshot(session: Session, ids: list[int]) -> dict[str, Any]:
    session.flush()
    session.expire_all()
    options = session.scalars(
        sa.select(PaymentOption)
        .where(PaymentOption.position_id.in_(ids))
        .order_by(PaymentOption.id)
    ).all()
    rank = {o.id: n for n, o in enumerate(options)}
    return {
        "options": [(rank[o.id], o.status, o.version) for o in options],
        "positions": [
            (ids.index(p.id), p.status, p.version, p.published_at is not None)
            for p in session.scalars(
                sa.select(DebtPosition).where(DebtPosition.id.in_(ids)).order_by(DebtPosition.id)
            )
        ],
        "history": [
            (rank[h.option_id], h.event, h.from_state, h.to_state)
            for h in session.scalars(
                sa.select(StateTransition)
                .where(StateTransition.option_id.in_(rank), StateTransition.cause == CAUSE)
                .order_by(StateTransition.id)
            )
        ],
        # one message per option or per chunk of options: compared per option followed up
        "messages": sorted(
            (rank[option_id], m.actor_name, from_state, to_state)
            for m in session.scalars(sa.select(OutboxMessage))
            if "from_state" in m.args
            for option_id, from_state, to_state in payments.followed_up(m.args)
            if option_id in rank
        ),
    }


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=positions_spec, event=st.sampled_from(["publish", "cancel"]))
def test_positions_changed_set_based_are_the_positions_changed_one_at_a_time(
    db, monkeypatch, spec, event
):
    results = []
    for set_based in (True, False):
        with db.begin_nested() as savepoint:
            ids = build(db, spec)
            if set_based:
                with monkeypatch.context() as patch:
                    patch.setattr(setbased, "CHUNK", 3)  # chunks that split positions
                    change = (
                        bulk_changes.publish_positions
                        if event == "publish"
                        else bulk_changes.cancel_positions
                    )
                    done = len(change(db, ids, cause=CAUSE))
            else:
                done = one_at_a_time(db, ids, event)
            results.append((done, snapshot(db, ids)))
            savepoint.rollback()
    assert results[0] == results[1]


def test_a_position_held_by_the_session_is_brought_in_line(db):
    ente = make_ente(db)
    position = make_position(db, ente, publish=False)
    version = position.version
    assert bulk_changes.publish_positions(db, [position.id], cause=CAUSE) == [position.id]
    assert (position.status, position.version) == ("payable", version + 1)
    assert position.published_at is not None and position.options[0].status == "payable"
    position.description = "changed afterwards"
    db.flush()  # the versions the session holds match the rows: no StaleDataError
