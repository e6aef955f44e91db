"""The help-desk ticket machine (workflows.ticket)."""

from __future__ import annotations

import pytest

from workflows.ticket import (
    DONE_STATES,
    EVENTS,
    OPEN_STATES,
    PAUSED_STATES,
    IllegalTicketTransition,
    TicketFlow,
    TicketState,
    allowed,
    next_state,
)


class Row:
    def __init__(self, state: str) -> None:
        self.state = state


@pytest.mark.parametrize(
    ("state", "event", "after"),
    [
        ("opened", "take_over", "taken_over"),
        ("opened", "resolve", "resolved"),
        ("taken_over", "ask_reporter", "waiting_reporter"),
        ("waiting_reporter", "reporter_answered", "taken_over"),
        ("waiting_reporter", "resolve", "resolved"),
        ("resolved", "close", "closed"),
        ("resolved", "reopen", "taken_over"),
        ("closed", "reopen", "taken_over"),
    ],
)
def test_the_transitions_of_the_contract(state, event, after):
    assert next_state(state, event) == after
    row = Row(state)
    TicketFlow(model=row, state_field="state").fire(event)
    assert row.state == after


@pytest.mark.parametrize(
    ("state", "event"),
    [
        ("opened", "close"),
        ("opened", "ask_reporter"),
        ("closed", "resolve"),
        ("taken_over", "reopen"),
        ("waiting_reporter", "take_over"),
        ("opened", "explode"),
    ],
)
def test_changes_the_state_does_not_allow_are_refused(state, event):
    with pytest.raises(IllegalTicketTransition):
        next_state(state, event)
    row = Row(state)
    with pytest.raises(IllegalTicketTransition):
        TicketFlow(model=row, state_field="state").fire(event)
    assert row.state == state


def test_sets_read_off_the_machine():
    assert {TicketState.WAITING_REPORTER} == PAUSED_STATES
    assert {TicketState.RESOLVED, TicketState.CLOSED} == DONE_STATES
    assert {TicketState.OPENED, TicketState.TAKEN_OVER, TicketState.WAITING_REPORTER} == OPEN_STATES
    assert allowed("closed") == ("reopen",)
    assert set(EVENTS) == {
        "take_over",
        "ask_reporter",
        "reporter_answered",
        "resolve",
        "close",
        "reopen",
    }
