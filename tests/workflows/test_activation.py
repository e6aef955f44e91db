"""ActivationFlow: the activation request's machine, its derived sets and its diagram."""

from __future__ import annotations

import pytest

from workflows.activation import (
    AWAITING_REFERENTE,
    CLOCK_RUNNING_STATES,
    FINAL_STATES,
    PAUSED_STATES,
    STATES,
    IllegalStep,
    RequestState,
    events_from,
    mermaid,
    next_state,
)

S = RequestState
HAPPY_PATH = [
    ("configure_test", S.CONFIGURED_TEST),
    ("confirm_test", S.CONFIRMED_TEST),
    ("configure_production", S.CONFIGURED_PRODUCTION),
    ("confirm_production", S.CONFIRMED_PRODUCTION),
    ("close", S.CLOSED),
]


def test_the_happy_path_goes_from_received_to_closed():
    state = S.RECEIVED
    for event, expected in HAPPY_PATH:
        state = next_state(state, event)
        assert state == expected


@pytest.mark.parametrize("origin", [S.RECEIVED, S.CONFIRMED_TEST])
@pytest.mark.parametrize(
    ("pause", "paused"), [("ask_ente", S.WAITING_ENTE), ("wait_pagopa", S.WAITING_PAGOPA)]
)
def test_a_pause_resumes_to_the_state_it_was_paused_from(origin, pause, paused):
    assert next_state(origin, pause) == paused
    assert next_state(paused, "resume", paused_from=origin) == origin


def test_resume_without_a_known_origin_is_refused():
    with pytest.raises(IllegalStep, match="not paused from"):
        next_state(S.WAITING_ENTE, "resume", paused_from=None)


def test_a_reported_problem_goes_back_to_the_intermediarys_previous_step():
    assert next_state(S.CONFIGURED_TEST, "report_problem") == S.RECEIVED
    assert next_state(S.CONFIGURED_PRODUCTION, "report_problem") == S.CONFIRMED_TEST


@pytest.mark.parametrize("state", sorted(FINAL_STATES))
def test_final_states_allow_nothing(state):
    assert events_from(state) == ()
    with pytest.raises(IllegalStep):
        next_state(state, "cancel")


def test_production_cannot_be_configured_before_the_test_is_confirmed():
    with pytest.raises(IllegalStep, match="configure_production"):
        next_state(S.RECEIVED, "configure_production")
    with pytest.raises(IllegalStep, match="no such event"):
        next_state(S.RECEIVED, "promote")


def test_the_derived_sets():
    assert {S.WAITING_ENTE, S.WAITING_PAGOPA} == PAUSED_STATES
    assert {S.CONFIGURED_TEST, S.CONFIGURED_PRODUCTION} == AWAITING_REFERENTE
    assert {S.RECEIVED, S.CONFIRMED_TEST} == CLOCK_RUNNING_STATES
    assert {S.CLOSED, S.REJECTED, S.CANCELLED} == FINAL_STATES
    assert set(STATES) == set(S)


def test_the_diagram_is_drawn_from_the_machine():
    diagram = mermaid()
    assert diagram.startswith("stateDiagram-v2")
    for state in S:
        assert f" as {state.value}" in diagram
    assert "waiting_ente --> confirmed_test : Resume [paused_from_confirmed_test]" in diagram
