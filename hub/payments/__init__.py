"""Payments: every change of a payment option's state, through the state machine.

``lifecycle``: locking an option, applying an event (one transition row, one outbox message),
what paVerify reads (``notice_summary``, ``check_payable``), activation (paGetPayment),
receipts (paSendRT: stored, settled or flagged), lapsed activations. The public surface is
re-exported here: ``from hub import payments; payments.store_receipt(...)``.
"""

from hub.payments.lifecycle import (
    STATUS_CHANGED_ACTOR,
    NoticeSummary,
    ReceiptOutcome,
    activate,
    apply_event,
    check_payable,
    expire_lapsed_activations,
    lock_option,
    lock_option_by_id,
    notice_summary,
    store_receipt,
)

__all__ = [
    "STATUS_CHANGED_ACTOR",
    "NoticeSummary",
    "ReceiptOutcome",
    "activate",
    "apply_event",
    "check_payable",
    "expire_lapsed_activations",
    "lock_option",
    "lock_option_by_id",
    "notice_summary",
    "store_receipt",
]
