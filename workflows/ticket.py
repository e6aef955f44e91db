"""TicketFlow: the life of one help-desk ticket, as an explicit machine.

Pure: no I/O, no clock. sla_monitor.helpdesk binds it to the locked ticket row, fires one event
and writes the history row and the clocks in the same transaction.

    opened --take_over--> taken_over --ask_reporter--> waiting_reporter (clock paused)
    waiting_reporter --reporter_answered--> taken_over
    opened | taken_over | waiting_reporter --resolve--> resolved --close--> closed
    resolved | closed --reopen--> taken_over

``resolve`` straight from ``opened`` counts as the take-over too (the caller stops both clocks).
"""

from __future__ import annotations

from enum import StrEnum

from statemachine import State, StateMachine


class TicketState(StrEnum):
    """The values stored in ``sla_ticket.state``."""

    OPENED = "opened"
    TAKEN_OVER = "taken_over"
    WAITING_REPORTER = "waiting_reporter"
    RESOLVED = "resolved"
    CLOSED = "closed"


class IllegalTicketTransition(Exception):
    def __init__(self, event: str, state: str) -> None:
        self.event, self.state = event, state
        super().__init__(f"cannot {event!r} a ticket that is {state!r}")


class TicketFlow(StateMachine):
    opened = State(value=TicketState.OPENED.value, initial=True)
    taken_over = State(value=TicketState.TAKEN_OVER.value)
    waiting_reporter = State(value=TicketState.WAITING_REPORTER.value)
    resolved = State(value=TicketState.RESOLVED.value)
    closed = State(value=TicketState.CLOSED.value)

    take_over = opened.to(taken_over)
    ask_reporter = taken_over.to(waiting_reporter)
    reporter_answered = waiting_reporter.to(taken_over)
    resolve = opened.to(resolved) | taken_over.to(resolved) | waiting_reporter.to(resolved)
    close = resolved.to(closed)
    reopen = resolved.to(taken_over) | closed.to(taken_over)

    def fire(self, event: str) -> None:
        """Apply ``event``; IllegalTicketTransition (the model unchanged) if it is unknown or
        not allowed in the current state."""
        state = str(self.current_state_value)
        if event not in EVENTS or event not in {e.id for e in self.allowed_events}:
            raise IllegalTicketTransition(event, state)
        self.send(event)


EVENTS = tuple(e.id for e in TicketFlow.events)  # type: ignore[attr-defined]
_TRANSITIONS = tuple(
    (TicketState(t.source.value), str(event), TicketState(t.target.value))
    for s in TicketFlow.states
    for t in s.transitions
    for event in t.events
)
# the resolution clock does not run while the desk waits for the reporter
PAUSED_STATES = frozenset({TicketState.WAITING_REPORTER})
# neither clock runs: the desk's work is done
DONE_STATES = frozenset(t for _, e, t in _TRANSITIONS if e in ("resolve", "close"))
OPEN_STATES = frozenset(TicketState) - DONE_STATES


def allowed(state: str) -> tuple[str, ...]:
    """The events allowed in ``state``, in the machine's order."""
    return tuple(e for e in EVENTS if any(f == state and ev == e for f, ev, _ in _TRANSITIONS))


def next_state(state: str, event: str) -> TicketState:
    """Where ``event`` takes a ticket that is ``state``; IllegalTicketTransition otherwise."""
    for f, e, t in _TRANSITIONS:
        if f == state and e == event:
            return t
    raise IllegalTicketTransition(event, state)
