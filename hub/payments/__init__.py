"""Payments: every change of a payment option's state, through the state machine.

``lifecycle``: locking an option, applying an event, the one recorder of transitions (history
rows and follow-up messages, one or thousands at once: ``record_transitions``),
what paVerify reads (``notice_summary``, ``check_payable``), activation (paGetPayment),
receipts (paSendRT: stored, settled or flagged); ``setbased``: one event on many options
(lapsed activations among them). The public surface is
re-exported here: ``from hub import payments; payments.store_receipt(...)``.
"""

from hub.payments.lifecycle import (
    EXPIRABLE,
    FOLLOWED_UP_EVENTS,
    STATUS_CHANGED_ACTOR,
    Change,
    NoticeSummary,
    ReceiptOutcome,
    activate,
    apply_event,
    check_payable,
    followed_up,
    lock_option,
    lock_option_by_id,
    next_states,
    notice_summary,
    record_transitions,
    store_receipt,
)
from hub.payments.setbased import expire_lapsed_activations

__all__ = [
    "EXPIRABLE",
    "FOLLOWED_UP_EVENTS",
    "STATUS_CHANGED_ACTOR",
    "Change",
    "NoticeSummary",
    "ReceiptOutcome",
    "activate",
    "apply_event",
    "check_payable",
    "expire_lapsed_activations",
    "followed_up",
    "lock_option",
    "lock_option_by_id",
    "next_states",
    "notice_summary",
    "record_transitions",
    "store_receipt",
]
