"""ActivationFlow: the life of an Ente's activation (or change) request, as an explicit machine.

The process of the intermediary's contract (PayER technical annex, §2): the Ente sends a
request with everything needed; the intermediary configures it in pagoPA's test environment;
the Ente's referente verifies and confirms; the intermediary configures production; the
referente confirms again; the request is closed. Two paused states hold the request while the
intermediary waits for someone else: the Ente (missing information) or pagoPA (its own
activation of the Ente on the station). ``resume`` returns it to the state it was paused from
(the model's ``paused_from``). The referente may report a problem instead of confirming: the
request goes back to the intermediary's previous step.

Pure: no I/O, no clock. hub.onboarding binds it to the locked row, fires one event and records
the step in the same transaction. The SLA clock (hub.onboarding.sla) runs only in
``CLOCK_RUNNING_STATES`` (the intermediary's turn) and stops for good in ``CLOCK_DONE_STATES``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from statemachine import State, StateMachine
from statemachine.exceptions import TransitionNotAllowed


class RequestState(StrEnum):
    """An activation request's state: the values stored in ``activation_request.state``."""

    RECEIVED = "received"
    WAITING_ENTE = "waiting_ente"
    WAITING_PAGOPA = "waiting_pagopa"
    CONFIGURED_TEST = "configured_test"
    CONFIRMED_TEST = "confirmed_test"
    CONFIGURED_PRODUCTION = "configured_production"
    CONFIRMED_PRODUCTION = "confirmed_production"
    CLOSED = "closed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class RequestKind(StrEnum):
    ACTIVATION = "activation"  # a new Ente (or a new service of an Ente) put into service
    CHANGE = "change"  # a change to what is already in service
    # taken out of service: first in test, then in production; its data and history are kept
    DEACTIVATION = "deactivation"


class IllegalStep(Exception):
    """An event that is not allowed in the request's current state."""

    def __init__(self, event: str, state: str, reason: str | None = None) -> None:
        self.event, self.state, self.reason = event, state, reason
        message = f"cannot {event!r} a request that is {state!r}"
        super().__init__(f"{message}: {reason}" if reason else message)


class ActivationFlow(StateMachine):
    """States are the values stored in ``activation_request.state``. Fire events with ``fire``."""

    received = State(value=RequestState.RECEIVED.value, initial=True)
    waiting_ente = State(value=RequestState.WAITING_ENTE.value)
    waiting_pagopa = State(value=RequestState.WAITING_PAGOPA.value)
    configured_test = State(value=RequestState.CONFIGURED_TEST.value)
    confirmed_test = State(value=RequestState.CONFIRMED_TEST.value)
    configured_production = State(value=RequestState.CONFIGURED_PRODUCTION.value)
    confirmed_production = State(value=RequestState.CONFIRMED_PRODUCTION.value)
    closed = State(value=RequestState.CLOSED.value, final=True)
    rejected = State(value=RequestState.REJECTED.value, final=True)
    cancelled = State(value=RequestState.CANCELLED.value, final=True)

    # the intermediary's pauses: information missing from the Ente, pagoPA's own activation
    ask_ente = received.to(waiting_ente) | confirmed_test.to(waiting_ente)
    wait_pagopa = received.to(waiting_pagopa) | confirmed_test.to(waiting_pagopa)
    resume = (
        waiting_ente.to(received, cond="paused_from_received")
        | waiting_ente.to(confirmed_test, cond="paused_from_confirmed_test")
        | waiting_pagopa.to(received, cond="paused_from_received")
        | waiting_pagopa.to(confirmed_test, cond="paused_from_confirmed_test")
    )
    configure_test = received.to(configured_test)
    confirm_test = configured_test.to(confirmed_test)
    configure_production = confirmed_test.to(configured_production)
    confirm_production = configured_production.to(confirmed_production)
    # the referente found something wrong: back to the intermediary's previous step
    report_problem = configured_test.to(received) | configured_production.to(confirmed_test)
    close = confirmed_production.to(closed)
    reject = received.to(rejected) | waiting_ente.to(rejected)
    cancel = (
        received.to(cancelled)
        | waiting_ente.to(cancelled)
        | waiting_pagopa.to(cancelled)
        | configured_test.to(cancelled)
        | confirmed_test.to(cancelled)
        | configured_production.to(cancelled)
    )

    def paused_from_received(self) -> bool:
        return getattr(self.model, "paused_from", None) == RequestState.RECEIVED

    def paused_from_confirmed_test(self) -> bool:
        return getattr(self.model, "paused_from", None) == RequestState.CONFIRMED_TEST

    def fire(self, event: str, **kwargs: Any) -> None:
        """Apply ``event`` to the bound model's ``state``; a pausing event also sets the
        model's ``paused_from`` (cleared by ``resume``). Raises IllegalStep (the model
        unchanged) if the event is unknown or not allowed in the current state."""
        state = str(self.current_state_value)
        if event not in EVENTS:
            raise IllegalStep(event, state, "no such event")
        if event not in {e.id for e in self.allowed_events}:
            raise IllegalStep(event, state)
        try:
            self.send(event, **kwargs)
        except TransitionNotAllowed:
            raise IllegalStep(event, state, "not paused from a state it can go back to") from None
        if event in PAUSING_EVENTS:
            self.model.paused_from = state
        elif event == "resume":
            self.model.paused_from = None


STATES = tuple(RequestState(s.value) for s in ActivationFlow.states)
EVENTS = tuple(e.id for e in ActivationFlow.events)  # type: ignore[attr-defined]
_TRANSITIONS = tuple(
    (RequestState(t.source.value), str(event), RequestState(t.target.value))
    for s in ActivationFlow.states
    for t in s.transitions
    for event in t.events
)


def sources(event: str) -> frozenset[RequestState]:
    """The states from which the machine allows ``event``."""
    return frozenset(f for f, e, _ in _TRANSITIONS if e == event)


def targets(event: str) -> frozenset[RequestState]:
    """The states ``event`` can lead to."""
    return frozenset(t for _, e, t in _TRANSITIONS if e == event)


def events_from(state: str) -> tuple[str, ...]:
    """The events the machine allows in ``state``, in definition order."""
    return tuple(dict.fromkeys(e for f, e, _ in _TRANSITIONS if f == state))


# Every set of states used elsewhere is read off the machine above, never restated.
INITIAL_STATE = RequestState(ActivationFlow.initial_state.value)  # type: ignore[attr-defined]
PAUSING_EVENTS = frozenset({"ask_ente", "wait_pagopa"})
PAUSED_STATES = targets("ask_ente") | targets("wait_pagopa")
# configured and waiting for the referente to verify and confirm (or report a problem)
AWAITING_REFERENTE = sources("confirm_test") | sources("confirm_production")
CONFIRMING_EVENTS = frozenset({"confirm_test", "confirm_production"})
# the intermediary's turn: the states from which it configures something
CLOCK_RUNNING_STATES = sources("configure_test") | sources("configure_production")
FINAL_STATES = frozenset(RequestState(s.value) for s in ActivationFlow.final_states)
# the request was served: the clock stops for good on reaching one of these
SERVED_STATES = targets("confirm_production") | targets("close")
CLOCK_DONE_STATES = SERVED_STATES | FINAL_STATES
OPEN_STATES = frozenset(STATES) - FINAL_STATES
# the events that put the Ente (or service) into one environment
TEST_EVENTS = frozenset({"configure_test"})
PRODUCTION_EVENTS = frozenset({"configure_production"})


class _StandIn:
    def __init__(self, state: str, paused_from: str | None) -> None:
        self.state = state
        self.paused_from = paused_from


def next_state(from_state: str, event: str, *, paused_from: str | None = None) -> RequestState:
    """Where ``event`` takes a request that is ``from_state`` (paused from ``paused_from``),
    asked of the machine. Raises IllegalStep as ``ActivationFlow.fire``."""
    stand_in = _StandIn(from_state, paused_from)
    ActivationFlow(model=stand_in, state_field="state").fire(event)
    return RequestState(stand_in.state)


def mermaid() -> str:
    """The machine's diagram (a mermaid stateDiagram), rendered from this definition."""
    return format(ActivationFlow, "mermaid")
