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
from typing import Any

from statemachine import State, StateMachine
from statemachine.exceptions import TransitionNotAllowed

ACTIVE_STATES = frozenset({"payable", "in_progress"})  # a receipt here is a normal payment
PAID_STATES = frozenset({"paid", "reported", "reconciled"})  # money received
TERMINAL_STATES = frozenset({"reconciled"})  # accepts only a double-payment receipt

_RECEIPT_ANOMALIES = {
    "draft": "paid_before_publication",
    "cancelled": "paid_after_cancel",
    "expired": "paid_after_expiry",
    "paid": "double_payment",
    "reported": "double_payment",
    "reconciled": "double_payment",
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

    draft = State(value="draft", initial=True)
    payable = State(value="payable")
    in_progress = State(value="in_progress")
    paid = State(value="paid")
    reported = State(value="reported")
    reconciled = State(value="reconciled")
    cancelled = State(value="cancelled")
    expired = State(value="expired")

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


def anomaly_for_receipt(from_state: str) -> str | None:
    """The anomaly a receipt arriving in ``from_state`` opens, or None for a normal payment."""
    return _RECEIPT_ANOMALIES.get(from_state)


def mermaid() -> str:
    """The machine's diagram (a mermaid stateDiagram), rendered from this definition."""
    return format(PaymentFlow, "mermaid")
