"""Money: Decimal with two decimals, integer cents; floats and bad amounts refused."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.errors import InvalidAmount
from hub.values.money import MAX_CENTS, format_cents, from_cents, parse_amount, to_cents


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("10.001", "more than two decimals"),
        ("-1.00", "negative"),
        ("0.00", "greater than zero"),
        ("abc", "not a number"),
        ("1000000000.00", "exceeds"),
        ("NaN", "not a finite"),
        (1.5, "not float"),
    ],
)
def test_bad_amounts_are_refused_with_the_reason(value, reason):
    with pytest.raises(InvalidAmount, match=reason):
        parse_amount(value)


def test_zero_is_accepted_only_where_allowed():
    assert parse_amount("0.00", allow_zero=True) == Decimal("0.00")


@given(st.integers(min_value=1, max_value=MAX_CENTS))
def test_cents_round_trip_through_the_wire_format(cents):
    text = format_cents(cents)
    assert to_cents(text) == cents
    assert from_cents(cents) == Decimal(text)
    whole, _, decimals = text.partition(".")
    assert whole.isdigit() and len(decimals) == 2
