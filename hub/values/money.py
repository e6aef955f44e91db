"""Money: amounts are Decimal with exactly two decimals on the wire, integer cents in the database.

pagoPA's ``stAmount`` is ``\\d+\\.\\d{2}`` with a maximum of 999999999.99; never a float.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from hub.errors import InvalidAmount

MAX_CENTS = 99_999_999_999  # 999 999 999.99


def parse_amount(value: str | Decimal | int, *, allow_zero: bool = False) -> Decimal:
    """Return ``value`` as a Decimal with two decimals.

    Raises InvalidAmount for floats, non-numbers, more than two decimals, negative amounts,
    zero (unless ``allow_zero``) and amounts above 999 999 999.99.
    """
    if isinstance(value, (float, bool)):
        raise InvalidAmount(f"amount must be a decimal string, not {type(value).__name__}")
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else value)
    except (InvalidOperation, TypeError):
        raise InvalidAmount(f"amount {value!r} is not a number") from None
    if not amount.is_finite():
        raise InvalidAmount(f"amount {value!r} is not a finite number")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise InvalidAmount(f"amount {value!r} has more than two decimals")
    if amount < 0:
        raise InvalidAmount(f"amount {value!r} is negative")
    if amount == 0 and not allow_zero:
        raise InvalidAmount("amount must be greater than zero")
    if amount * 100 > MAX_CENTS:
        raise InvalidAmount(f"amount {value!r} exceeds 999999999.99")
    return amount.quantize(Decimal("0.01"))


def to_cents(value: str | Decimal | int, *, allow_zero: bool = False) -> int:
    """Parse ``value`` (see parse_amount) and return integer cents."""
    return int(parse_amount(value, allow_zero=allow_zero) * 100)


def from_cents(cents: int) -> Decimal:
    """Integer cents to a two-decimal Decimal."""
    return (Decimal(cents) / 100).quantize(Decimal("0.01"))


def format_cents(cents: int) -> str:
    """Integer cents as pagoPA writes amounts: ``30.00``."""
    return f"{from_cents(cents):.2f}"
