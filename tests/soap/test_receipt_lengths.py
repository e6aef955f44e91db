"""A receipt's text longer than its column is refused with the field's name (never cut, never a
database error); one exactly as long as the column is stored."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hub.models import Receipt
from soap.receipts import ReceiptValueError, _check_lengths

TEXT_COLUMNS = [
    (p.key, p.columns[0].type.length)
    for p in sa.inspect(Receipt).column_attrs
    if isinstance(p.columns[0].type, sa.String) and p.columns[0].type.length
]


def test_every_bounded_text_column_is_checked():
    keys = {key for key, _ in TEXT_COLUMNS}
    assert {
        "ec_fiscal_code",
        "receipt_id",
        "notice_number",
        "description",
        "psp_company_name",
    } <= keys


@pytest.mark.parametrize(("key", "limit"), TEXT_COLUMNS)
def test_a_text_one_character_too_long_is_refused_with_its_name(key, limit):
    receipt = Receipt(**{key: "x" * (limit + 1)})
    with pytest.raises(ReceiptValueError, match=f"^{key} is longer than {limit} characters$"):
        _check_lengths(receipt)


@pytest.mark.parametrize(("key", "limit"), TEXT_COLUMNS)
def test_a_text_as_long_as_its_column_passes(key, limit):
    _check_lengths(Receipt(**{key: "x" * limit}))
