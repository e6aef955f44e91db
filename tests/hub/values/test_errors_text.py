"""Pydantic's validation errors become plain sentences naming the field, never its regexes."""

from __future__ import annotations

import datetime as dt

import pytest

from hub.positions.inputs import DebtPositionInput, InvalidPosition


@pytest.mark.parametrize(
    ("fields", "sentence"),
    [
        ({"amount": "12,50"}, "options[0].amount must be an amount in euro with two decimals"),
        ({"description": "x" * 141}, "options[0].description must be at most 140 characters"),
        ({"colour": "red"}, "options[0].colour is not a field of this request"),
    ],
)
def test_an_invalid_option_is_described_in_words_naming_the_field(fields, sentence):
    option = {
        "amount": "12.50",
        "due_date": dt.date(2026, 12, 31),
        "transfers": [
            {
                "amount": "12.50",
                "remittance_information": "x",
                "category": "c",
                "iban": "IT60X0542811101000000123456",
            }
        ],
        **fields,
    }
    with pytest.raises(InvalidPosition) as refused:
        DebtPositionInput.of(
            iupd="I-1",
            debtor_type="F",
            debtor_fiscal_code="RSSMRA80A01H501U",
            debtor_name="Mario Rossi",
            description="d",
            options=[option],
        )
    text = str(refused.value)
    assert text.startswith(sentence)
    assert "should match pattern" not in text and "^(0|" not in text
