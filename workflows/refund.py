"""RefundFlow: the life of one refund case, as an explicit machine.

pagoPA moves no money back: when a citizen paid twice (two plans of one debt, the same notice
twice), paid more than the notice asked, or paid a notice the Ente had cancelled or that had
expired, the Ente refunds by bank transfer and the hub tracks the case to the end. Support opens
a case (or the hub does, with the anomaly) and hands it to the Ente; the Ente's operators
decide, order the transfer (the payer's IBAN, the amount, who ordered it) and confirm it with
the bank's reference; or they reject the case saying why.

Pure: no I/O, no clock. hub.refunds binds it to the locked row, sets the fields an event needs
(the guards read them) and fires the event.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from statemachine import State, StateMachine
from statemachine.exceptions import TransitionNotAllowed


class RefundStatus(StrEnum):
    """A refund case's state: the values stored in ``refund_case.status``."""

    OPENED = "opened"
    AWAITING_DECISION = "awaiting_decision"
    APPROVED = "approved"
    ORDERED = "ordered"
    REFUNDED = "refunded"
    REJECTED = "rejected"


class RefundReason(StrEnum):
    """Why a case was opened: the anomaly that opened it, or a citizen's request."""

    DOUBLE_PAYMENT = "double_payment"
    AMOUNT_MISMATCH = "amount_mismatch"
    PAID_AFTER_CANCEL = "paid_after_cancel"
    PAID_AFTER_EXPIRY = "paid_after_expiry"
    CITIZEN_REQUEST = "citizen_request"


_GUARD_FAILURES = {
    "order": "the payer's IBAN, a positive amount and who orders it are needed",
    "confirm": "the bank's reference of the transfer is needed",
    "reject": "a reason is needed",
}


class IllegalRefundStep(Exception):
    """An event not allowed in the case's state, or whose guard does not hold."""

    def __init__(self, event: str, state: str, reason: str | None = None) -> None:
        self.event, self.state, self.reason = event, state, reason
        message = f"cannot {event!r} a refund case that is {state!r}"
        super().__init__(f"{message}: {reason}" if reason else message)


class RefundFlow(StateMachine):
    """States are the values stored in ``refund_case.status``. Fire events with ``fire``."""

    opened = State(value=RefundStatus.OPENED.value, initial=True)
    awaiting_decision = State(value=RefundStatus.AWAITING_DECISION.value)
    approved = State(value=RefundStatus.APPROVED.value)
    ordered = State(value=RefundStatus.ORDERED.value)
    refunded = State(value=RefundStatus.REFUNDED.value, final=True)
    rejected = State(value=RefundStatus.REJECTED.value, final=True)

    # support hands the case to the Ente
    submit = opened.to(awaiting_decision)
    # the Ente decides
    approve = awaiting_decision.to(approved)
    reject = (
        opened.to(rejected, cond="has_reason")
        | awaiting_decision.to(rejected, cond="has_reason")
        | approved.to(rejected, cond="has_reason")
    )
    # the Ente orders the bank transfer, then confirms it with the bank's reference
    order = approved.to(ordered, cond="order_complete")
    confirm = ordered.to(refunded, cond="has_bank_reference")

    def has_reason(self) -> bool:
        return bool((getattr(self.model, "rejection_reason", None) or "").strip())

    def order_complete(self) -> bool:
        model = self.model
        return (
            bool(getattr(model, "payer_iban", None))
            and (getattr(model, "amount_cents", 0) or 0) > 0
            and bool(getattr(model, "ordered_by", None))
        )

    def has_bank_reference(self) -> bool:
        return bool((getattr(self.model, "bank_reference", None) or "").strip())

    def fire(self, event: str, **kwargs: Any) -> None:
        """Apply ``event`` to the bound model's status. Raises IllegalRefundStep (the model
        unchanged) if the event is unknown, not allowed now, or its guard does not hold."""
        state = str(self.current_state_value)
        if event not in EVENTS:
            raise IllegalRefundStep(event, state, "no such event")
        if event not in {e.id for e in self.allowed_events}:
            raise IllegalRefundStep(event, state)
        try:
            self.send(event, **kwargs)
        except TransitionNotAllowed:
            raise IllegalRefundStep(event, state, _GUARD_FAILURES.get(event)) from None


STATES = tuple(s.value for s in RefundFlow.states)
EVENTS = tuple(e.id for e in RefundFlow.events)  # type: ignore[attr-defined]
TRANSITIONS = tuple(
    (RefundStatus(t.source.value), str(event), RefundStatus(t.target.value))
    for s in RefundFlow.states
    for t in s.transitions
    for event in t.events
)
INITIAL_STATE = RefundStatus(RefundFlow.initial_state.value)  # type: ignore[attr-defined]
FINAL_STATES = frozenset(RefundStatus(s.value) for s in RefundFlow.final_states)
OPEN_STATES = frozenset(RefundStatus(s) for s in STATES) - FINAL_STATES
# who may fire each event: support hands over and may drop a case it opened by mistake, the
# Ente's operators decide and carry out the refund
SUPPORT_EVENTS = frozenset({"submit", "reject"})
ENTE_EVENTS = frozenset({"approve", "reject", "order", "confirm"})


def allowed_events(status: str) -> tuple[str, ...]:
    """The events the machine allows from ``status`` (guards aside), in definition order."""
    return tuple(e for e in EVENTS if any(f == status and ev == e for f, ev, _ in TRANSITIONS))


def mermaid() -> str:
    """The machine's diagram (a mermaid stateDiagram), rendered from this definition."""
    return format(RefundFlow, "mermaid")
