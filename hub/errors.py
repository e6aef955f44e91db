"""Domain errors: every rule the hub enforces fails with a subclass of DomainError."""

from __future__ import annotations


class DomainError(Exception):
    """A business rule was broken; the message says which, in words a user can act on."""

    code = "domain_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class NotFound(DomainError):
    code = "not_found"


class InvalidAmount(DomainError):
    code = "invalid_amount"


class Conflict(DomainError):
    code = "conflict"


class PaymentUnknown(DomainError):
    """No payable notice with this number for this Ente (or not yet published)."""

    code = "payment_unknown"


class PaymentExpired(DomainError):
    code = "payment_expired"


class PaymentCancelled(DomainError):
    code = "payment_cancelled"


class PaymentAlreadyPaid(DomainError):
    code = "payment_already_paid"


# Plans are exclusive (hub.payments.plans) --------------------------------------------------
class OtherPlanPaid(PaymentAlreadyPaid):
    """Another plan of the same debt (pay in full, or the instalments) is already paid."""

    code = "other_plan_paid"


class OtherPlanInProgress(DomainError):
    """An option of another plan of the same debt is being paid right now."""

    code = "other_plan_in_progress"


class DuplicateReceipt(DomainError):
    """The same receipt (EC fiscal code, receiptId) was already stored: nothing new written."""

    code = "duplicate_receipt"
