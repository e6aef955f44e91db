"""PaymentFlow: the life of one payment option (one notice number), as an explicit machine.

Pure: no I/O, no clock. hub.payments binds it to the locked row, fires one event with ``now``
(an aware datetime, read by the guards) and records the transition in the same transaction.

A receipt is never refused, because the money has already been taken: a receipt for a
draft, cancelled or expired option still makes it paid, and one for an option that is
already paid, reported or reconciled leaves it where it is. Either way the hub opens an
anomaly (``anomaly_for_receipt``). So ``reconciled`` is terminal except for that
double-payment self-loop, and ``cancelled``/``expired`` are final for everything but a receipt.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from statemachine import State, StateMachine
from statemachine.exceptions import TransitionNotAllowed


class OptionStatus(StrEnum):
    """A payment option's state: the values stored in ``payment_option.status``. Code outside
    workflows/ names states through this enum, never as bare strings (tests/test_state_names.py).
    """

    DRAFT = "draft"
    PAYABLE = "payable"
    IN_PROGRESS = "in_progress"
    PAID = "paid"
    REPORTED = "reported"
    RECONCILED = "reconciled"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class PositionStatus(StrEnum):
    """A debt position's status, derived from its options' (hub.positions.status): an option
    state, or ``partially_paid`` (some of a plan's instalments paid)."""

    DRAFT = OptionStatus.DRAFT.value
    PAYABLE = OptionStatus.PAYABLE.value
    IN_PROGRESS = OptionStatus.IN_PROGRESS.value
    PARTIALLY_PAID = "partially_paid"
    PAID = OptionStatus.PAID.value
    REPORTED = OptionStatus.REPORTED.value
    RECONCILED = OptionStatus.RECONCILED.value
    CANCELLED = OptionStatus.CANCELLED.value
    EXPIRED = OptionStatus.EXPIRED.value


_RECEIPT_ANOMALIES: dict[str, str] = {
    OptionStatus.DRAFT: "paid_before_publication",
    OptionStatus.CANCELLED: "paid_after_cancel",
    OptionStatus.EXPIRED: "paid_after_expiry",
    OptionStatus.PAID: "double_payment",
    OptionStatus.REPORTED: "double_payment",
    OptionStatus.RECONCILED: "double_payment",
}
_GUARD_FAILURES = {
    "expire": "not past due",
    "activation_expired": "the activation has not lapsed",
}


class IllegalTransition(Exception):
    """An event that is not allowed in the current state, or whose guard does not hold."""

    def __init__(self, event: str, state: str, reason: str | None = None) -> None:
        self.event, self.state, self.reason = event, state, reason
        message = f"cannot {event!r} a payment option that is {state!r}"
        super().__init__(f"{message}: {reason}" if reason else message)


class PaymentFlow(StateMachine):
    """States are the values stored in ``payment_option.status``. Fire events with ``fire``."""

    draft = State(value=OptionStatus.DRAFT.value, initial=True)
    payable = State(value=OptionStatus.PAYABLE.value)
    in_progress = State(value=OptionStatus.IN_PROGRESS.value)
    paid = State(value=OptionStatus.PAID.value)
    reported = State(value=OptionStatus.REPORTED.value)
    reconciled = State(value=OptionStatus.RECONCILED.value)
    cancelled = State(value=OptionStatus.CANCELLED.value)
    expired = State(value=OptionStatus.EXPIRED.value)

    publish = draft.to(payable)
    # paGetPayment again (a new token after the first lapsed) keeps the option in progress
    activate = payable.to(in_progress) | in_progress.to.itself()
    activation_expired = in_progress.to(payable, cond="activation_lapsed")
    # Self-loops are external (there are no enter/exit actions) so that the diagram draws them.
    receive_receipt = (
        payable.to(paid)
        | in_progress.to(paid)
        | draft.to(paid)
        | cancelled.to(paid)
        | expired.to(paid)
        | paid.to.itself()
        | reported.to.itself()
        | reconciled.to.itself()
    )
    cancel = draft.to(cancelled) | payable.to(cancelled)
    expire = draft.to(expired, cond="past_due") | payable.to(expired, cond="past_due")
    report = paid.to(reported)
    reconcile = reported.to(reconciled)

    def activation_lapsed(self, now: dt.datetime) -> bool:
        expires_at = getattr(self.model, "activation_expires_at", None)
        return expires_at is not None and expires_at <= now

    def past_due(self, today: dt.date) -> bool:
        expires_on = getattr(self.model, "expires_on", None)
        return expires_on is not None and expires_on < today

    def fire(self, event: str, *, now: dt.datetime, today: dt.date, **kwargs: Any) -> None:
        """Apply ``event`` at time ``now`` to the bound model's status; ``today`` is the
        business date (Italian calendar) of ``now``, which only the caller's clock knows.

        Raises IllegalTransition (the model unchanged) if the event is unknown, not allowed
        in the current state, or its guard does not hold.
        """
        state = str(self.current_state_value)
        if event not in EVENTS:
            raise IllegalTransition(event, state, "no such event")
        if event not in {e.id for e in self.allowed_events}:
            raise IllegalTransition(event, state)
        try:
            self.send(event, now=now, today=today, **kwargs)
        except TransitionNotAllowed:
            raise IllegalTransition(event, state, _GUARD_FAILURES.get(event)) from None


STATES = tuple(s.value for s in PaymentFlow.states)
# at class level ``events`` is the metaclass's list; the stubs only know the instance property
EVENTS = tuple(e.id for e in PaymentFlow.events)  # type: ignore[attr-defined]
# (from, event, to) for every transition the machine defines
_TRANSITIONS = tuple(
    (OptionStatus(t.source.value), str(event), OptionStatus(t.target.value))
    for s in PaymentFlow.states
    for t in s.transitions
    for event in t.events
)


# events with a guard: where they lead depends on the option's data, not on its state alone
GUARDED_EVENTS = frozenset(
    str(event)
    for s in PaymentFlow.states
    for t in s.transitions
    if list(t.cond)
    for event in t.events
)


def sources(event: str) -> frozenset[OptionStatus]:
    """The states from which the machine allows ``event`` (guards aside)."""
    return frozenset(f for f, e, _ in _TRANSITIONS if e == event)


def targets(event: str) -> frozenset[OptionStatus]:
    """The states ``event`` can lead to."""
    return frozenset(t for _, e, t in _TRANSITIONS if e == event)


# Every set of states used elsewhere is read off the machine above, never restated.
INITIAL_STATE = OptionStatus(PaymentFlow.initial_state.value)  # type: ignore[attr-defined]
# can be activated (paGetPayment): published and not paid; a receipt here is a normal payment
PAYABLE_STATES = ACTIVE_STATES = sources("activate")
PAID_STATES = targets("receive_receipt")  # money received
EXPIRABLE_STATES = sources("expire")  # past due, nothing being paid: may expire
CHANGEABLE_STATES = sources("cancel")  # nothing being paid: may be changed or cancelled
CANCELLED_STATES = targets("cancel")
EXPIRED_STATES = targets("expire")
# closed without payment: only a receipt (an anomaly) moves them on
CLOSED_STATES = CANCELLED_STATES | EXPIRED_STATES
# accepts only a double-payment receipt: every transition out of it is a self-loop
TERMINAL_STATES = frozenset(
    OptionStatus(s) for s in STATES if all(f != s or t == s for f, _, t in _TRANSITIONS)
)


class _StandIn:
    status: str

    def __init__(self, status: str, facts: Mapping[str, Any]) -> None:
        self.status = status
        for name, value in facts.items():  # what the guards read (expires_on, ...)
            setattr(self, name, value)


def next_state(
    from_state: str,
    event: str,
    *,
    now: dt.datetime,
    today: dt.date,
    facts: Mapping[str, Any] | None = None,
) -> OptionStatus:
    """Where ``event`` takes an option that is ``from_state``, asked of the machine. For an
    event without guard the answer depends on the state alone (one answer serves every
    option in that state); for a guarded one pass ``facts``, the option's fields its guard
    reads (``expires_on`` for expire, ``activation_expires_at`` for activation_expired): one
    answer serves every option with the same state and facts. Raises IllegalTransition as
    ``PaymentFlow.fire``; ValueError for a guarded event without facts."""
    if event in GUARDED_EVENTS and facts is None:
        raise ValueError(f"{event!r} has a guard: give the facts it reads")
    stand_in = _StandIn(from_state, facts or {})
    PaymentFlow(model=stand_in, state_field="status").fire(event, now=now, today=today)
    return OptionStatus(stand_in.status)


def anomaly_for_receipt(from_state: str) -> str | None:
    """The anomaly a receipt arriving in ``from_state`` opens, or None for a normal payment."""
    return _RECEIPT_ANOMALIES.get(from_state)


def mermaid() -> str:
    """The machine's diagram (a mermaid stateDiagram), rendered from this definition."""
    return format(PaymentFlow, "mermaid")
