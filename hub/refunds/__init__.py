"""Refund cases: money pagoPA collected that the Ente gives back by bank transfer.

``cases``: opening a case (with the anomaly that calls for it, or by support on a citizen's
request), every step through workflows.refund.RefundFlow with who did it, the audit trail and
the Ente's back-office webhook (through the outbox), the lists the dashboard and the citizen's
outcome page read.
"""

from hub.refunds.cases import (
    AMOUNT_TOLERANCE_CENTS,
    AUTOMATIC_REASONS,
    EVENT_TYPES,
    RefundError,
    cases_for,
    find_case,
    open_case,
    open_for_anomaly,
    open_on_request,
    open_refunds_for_options,
    step,
)

__all__ = [
    "AMOUNT_TOLERANCE_CENTS",
    "AUTOMATIC_REASONS",
    "EVENT_TYPES",
    "RefundError",
    "cases_for",
    "find_case",
    "open_case",
    "open_for_anomaly",
    "open_on_request",
    "open_refunds_for_options",
    "step",
]
