"""PaymentFlow: every allowed transition works, every other one is a clear error."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest

from workflows.payment import (
    ACTIVE_STATES,
    EVENTS,
    STATES,
    TERMINAL_STATES,
    IllegalTransition,
    PaymentFlow,
    anomaly_for_receipt,
    mermaid,
)

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


@dataclass
class Row:
    status: str | None = None
    activation_expires_at: dt.datetime | None = NOW - dt.timedelta(minutes=1)
    expires_on: dt.date | None = NOW.date() - dt.timedelta(days=1)


TABLE = {
    ("draft", "publish"): "payable",
    ("draft", "cancel"): "cancelled",
    ("draft", "expire"): "expired",
    ("draft", "receive_receipt"): "paid",
    ("payable", "activate"): "in_progress",
    ("payable", "receive_receipt"): "paid",
    ("payable", "cancel"): "cancelled",
    ("payable", "expire"): "expired",
    ("in_progress", "activate"): "in_progress",
    ("in_progress", "activation_expired"): "payable",
    ("in_progress", "receive_receipt"): "paid",
    ("paid", "receive_receipt"): "paid",
    ("paid", "report"): "reported",
    ("reported", "receive_receipt"): "reported",
    ("reported", "reconcile"): "reconciled",
    ("reconciled", "receive_receipt"): "reconciled",
    ("cancelled", "receive_receipt"): "paid",
    ("expired", "receive_receipt"): "paid",
}
DEFINED = {
    (state.value, event): transition.target.value
    for state in PaymentFlow.states
    for transition in state.transitions
    for event in transition.events
}
FORBIDDEN = [(s, e) for s in STATES for e in EVENTS if (s, e) not in DEFINED]


def fire(state: str, event: str, **row: Any) -> Row:
    option = Row(status=state, **row)
    PaymentFlow(model=option, state_field="status").fire(event, now=NOW, today=NOW.date())
    return option


def test_the_machine_defines_exactly_the_documented_transitions():
    assert DEFINED == TABLE


@pytest.mark.parametrize(("state", "event"), sorted(TABLE))
def test_allowed_transition_reaches_its_target(state, event):
    assert fire(state, event).status == TABLE[(state, event)]


@pytest.mark.parametrize(("state", "event"), FORBIDDEN)
def test_event_not_allowed_in_a_state_raises_naming_both_and_changes_nothing(state, event):
    row = Row(status=state)
    with pytest.raises(IllegalTransition) as info:
        PaymentFlow(model=row, state_field="status").fire(event, now=NOW, today=NOW.date())
    assert (info.value.event, info.value.state) == (event, state)
    assert str(info.value) == f"cannot {event!r} a payment option that is {state!r}"
    assert row.status == state


def test_unknown_event_is_an_illegal_transition():
    with pytest.raises(IllegalTransition, match=r"'refund'.*no such event"):
        fire("payable", "refund")


@pytest.mark.parametrize("state", STATES)
def test_a_receipt_is_accepted_in_every_state(state):
    assert fire(state, "receive_receipt").status in {"paid", "reported", "reconciled"}


@pytest.mark.parametrize("state", ["draft", "payable"])
def test_expire_on_the_retention_date_fails_its_guard(state):
    with pytest.raises(IllegalTransition, match=rf"cannot 'expire' .*'{state}': not past due"):
        fire(state, "expire", expires_on=NOW.date())


def test_expire_without_a_retention_date_never_holds():
    with pytest.raises(IllegalTransition, match="not past due"):
        fire("payable", "expire", expires_on=None)


@pytest.mark.parametrize("expires_at", [NOW + dt.timedelta(minutes=5), None])
def test_activation_expiry_before_the_token_lapses_fails_its_guard(expires_at):
    with pytest.raises(IllegalTransition, match="activation has not lapsed"):
        fire("in_progress", "activation_expired", activation_expires_at=expires_at)


def test_activation_expiry_holds_at_the_exact_expiry_instant():
    assert fire("in_progress", "activation_expired", activation_expires_at=NOW).status == "payable"


@pytest.mark.parametrize("state", STATES)
def test_binding_to_a_loaded_row_keeps_its_state(state):
    row = Row(status=state)
    flow = PaymentFlow(model=row, state_field="status")
    assert row.status == state and flow.current_state_value == state


def test_binding_to_a_new_row_starts_as_draft():
    row = Row()
    PaymentFlow(model=row, state_field="status")
    assert row.status == "draft"


def test_terminal_states_accept_only_the_double_payment_receipt():
    for state in TERMINAL_STATES:
        assert {e for s, e in DEFINED if s == state} == {"receive_receipt"}
        assert DEFINED[(state, "receive_receipt")] == state


@pytest.mark.parametrize(
    ("state", "anomaly"),
    [
        ("payable", None),
        ("in_progress", None),
        ("draft", "paid_before_publication"),
        ("cancelled", "paid_after_cancel"),
        ("expired", "paid_after_expiry"),
        ("paid", "double_payment"),
        ("reported", "double_payment"),
        ("reconciled", "double_payment"),
    ],
)
def test_a_receipt_opens_the_anomaly_its_state_calls_for(state, anomaly):
    assert anomaly_for_receipt(state) == anomaly
    assert (anomaly is None) == (state in ACTIVE_STATES)


def test_the_diagram_is_rendered_from_the_machine_and_shows_every_transition():
    diagram = mermaid()
    assert diagram.startswith("stateDiagram")
    for state in STATES:
        assert f"as {state}\n" in diagram
    for state, event in DEFINED:
        assert f"{state} --> {DEFINED[(state, event)]} : " in diagram
    assert "paid --> paid : Receive receipt" in diagram


def test_the_sets_of_states_are_read_off_the_machine() -> None:
    from workflows import payment as p

    S = p.OptionStatus
    assert {s.value for s in S} == set(STATES)
    assert p.INITIAL_STATE == S.DRAFT
    assert p.PAYABLE_STATES == p.ACTIVE_STATES == {S.PAYABLE, S.IN_PROGRESS}
    assert {S.PAID, S.REPORTED, S.RECONCILED} == p.PAID_STATES
    assert p.EXPIRABLE_STATES == p.CHANGEABLE_STATES == {S.DRAFT, S.PAYABLE}
    assert {S.CANCELLED} == p.CANCELLED_STATES
    assert {S.EXPIRED} == p.EXPIRED_STATES
    assert {S.CANCELLED, S.EXPIRED} == p.CLOSED_STATES
    assert {S.RECONCILED} == p.TERMINAL_STATES
    assert {"expire", "activation_expired"} == p.GUARDED_EVENTS
    # every state but the initial one is reached by some event; every event is defined
    for state in S:
        assert state == p.INITIAL_STATE or any(state in p.targets(e) for e in EVENTS)
    assert set(p.PositionStatus) >= set(S)


def test_next_state_asks_the_machine_and_refuses_guarded_events() -> None:
    from workflows.payment import next_state

    assert next_state("draft", "publish", now=NOW, today=NOW.date()) == "payable"
    with pytest.raises(IllegalTransition):
        next_state("paid", "publish", now=NOW, today=NOW.date())
    with pytest.raises(ValueError):
        next_state("payable", "expire", now=NOW, today=NOW.date())
