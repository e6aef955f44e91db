"""RefundFlow: the documented steps work, every other one is a clear error, guards hold."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from workflows.refund import (
    EVENTS,
    FINAL_STATES,
    STATES,
    IllegalRefundStep,
    RefundFlow,
    allowed_events,
    mermaid,
)


@dataclass
class Case:
    status: str = "opened"
    rejection_reason: str | None = "paid by mistake twice"
    payer_iban: str | None = "IT60X0542811101000000123456"
    amount_cents: int = 30000
    ordered_by: str | None = "ops:anna"
    bank_reference: str | None = "CRO 1234567890"


TABLE = {
    ("opened", "submit"): "awaiting_decision",
    ("opened", "reject"): "rejected",
    ("awaiting_decision", "approve"): "approved",
    ("awaiting_decision", "reject"): "rejected",
    ("approved", "order"): "ordered",
    ("approved", "reject"): "rejected",
    ("ordered", "confirm"): "refunded",
}


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("event", EVENTS)
def test_every_step_goes_where_the_table_says_or_is_refused(state, event):
    case = Case(status=state)
    flow = RefundFlow(model=case, state_field="status")
    if (state, event) in TABLE:
        flow.fire(event)
        assert case.status == TABLE[(state, event)]
    else:
        with pytest.raises(IllegalRefundStep, match=f"cannot {event!r}"):
            flow.fire(event)
        assert case.status == state


def test_refunded_and_rejected_are_final():
    assert {"refunded", "rejected"} == FINAL_STATES
    assert allowed_events("refunded") == allowed_events("rejected") == ()


@pytest.mark.parametrize(
    ("state", "event", "missing", "says"),
    [
        ("approved", "order", {"payer_iban": None}, "IBAN"),
        ("approved", "order", {"amount_cents": 0}, "amount"),
        ("approved", "order", {"ordered_by": None}, "who orders"),
        ("ordered", "confirm", {"bank_reference": " "}, "bank's reference"),
        ("awaiting_decision", "reject", {"rejection_reason": ""}, "reason"),
    ],
)
def test_a_step_without_what_it_needs_is_refused_saying_what(state, event, missing, says):
    case = Case(status=state, **missing)
    with pytest.raises(IllegalRefundStep, match=says):
        RefundFlow(model=case, state_field="status").fire(event)
    assert case.status == state


def test_the_diagram_draws_every_step():
    diagram = mermaid()
    for (source, _), target in TABLE.items():
        assert f"{source} --> {target}" in diagram
