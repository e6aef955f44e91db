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


class DuplicateReceipt(DomainError):
    """The same receipt (EC fiscal code, receiptId) was already stored: nothing new written."""

    code = "duplicate_receipt"
