"""Creating debt positions: bad input names the failing field and writes nothing."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from hub import clock
from hub.models import DebtPosition, PaymentOption, StateTransition
from hub.positions.inputs import DebtPositionInput, InvalidPosition, MetadataEntry
from hub.positions.writer import create_position, validate
from tests.factories import IBAN, make_ente

pytestmark = pytest.mark.pg
DUE = clock.today() + dt.timedelta(days=30)


def _position(**option_changes) -> DebtPositionInput:
    """Built as the API reads a body: the input model names the failing field's whole path."""
    option = {
        "amount": "30.00",
        "due_date": DUE,
        "transfers": [
            {
                "amount": "20.00",
                "remittance_information": "a",
                "category": "9/0101108TS/",
                "iban": IBAN,
            },
            {
                "amount": "10.00",
                "remittance_information": "b",
                "category": "9/0101108TS/",
                "iban": IBAN,
            },
        ],
    }
    return DebtPositionInput.of(
        iupd="X-1",
        debtor_type="F",
        debtor_fiscal_code="RSSMRA80A01H501U",
        debtor_name="Mario Rossi",
        description="d",
        options=[{**option, **option_changes}],
    )


def _rows(db) -> tuple[int, int]:
    return (
        db.scalar(sa.select(sa.func.count()).select_from(DebtPosition)),
        db.scalar(sa.select(sa.func.count()).select_from(PaymentOption)),
    )


_TRANSFER = {"amount": "5.00", "remittance_information": "x", "category": "c", "iban": IBAN}


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        # the input model's (hub.positions.inputs): each field's shape
        # (plain sentences naming the field: hub.values.errors_text, not pydantic's text)
        (
            {"amount": "30.001"},
            "options[0].amount",
            r"^options\[0\]\.amount must be an amount in euro",
        ),
        ({"amount": "-30.00"}, "options[0].amount", "two decimals and a dot"),
        ({"transfers": []}, "options[0].transfers", "must have at least 1 item$"),
        ({"transfers": [_TRANSFER] * 6}, "options[0].transfers", "must have at most 5 items"),
        ({"notice_number": "30000000000000010"}, "options[0].notice_number", "expected format"),
        # the writer's (validate): across fields
        ({"amount": "31.00"}, "options[0].transfers", "add up to 3000 cents, not 3100"),
        ({"notice_number": "300000000000000105"}, "options[0].notice_number", "check digits"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(db, changes, field, reason):
    ente = make_ente(db)
    before = _rows(db)
    with pytest.raises(InvalidPosition, match=reason) as info:
        create_position(db, ente, _position(**changes), publish=True)  # the model, or the writer
    assert info.value.field == field
    assert _rows(db) == before


def test_a_transfer_without_any_account_is_refused(db):
    ente = make_ente(db)
    position = _position(
        transfers=[{"amount": "30.00", "remittance_information": "a", "category": "c"}]
    )
    with pytest.raises(InvalidPosition, match="IBAN"):
        create_position(db, ente, position)


def test_created_and_published_position_has_numbers_transfers_and_history(db):
    ente = make_ente(db, segregation_code="12")
    position = create_position(db, ente, _position(), publish=True)
    option = position.options[0]
    assert option.notice_number.startswith("312") and option.iuv == option.notice_number[1:]
    assert [t.id_transfer for t in option.transfers] == [1, 2]
    assert [t.amount_cents for t in option.transfers] == [2000, 1000]
    assert option.status == "payable" and position.status == "payable"
    assert (
        db.scalar(sa.select(StateTransition.event).where(StateTransition.option_id == option.id))
        == "publish"
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"debtor_name": "Ma\x00rio"}, "debtor_name"),
        ({"description": "\x00"}, "description"),
    ],
)
def test_a_nul_character_names_its_field(change, field):
    with pytest.raises(InvalidPosition) as err:
        validate(_position().model_copy(update=change))
    assert err.value.field == field


def test_a_nul_character_deep_in_a_transfer_names_its_path():
    position = _position()
    # the model refuses control characters itself; built past it, the writer still names the path
    position.options[0].transfers[0].metadata = [
        MetadataEntry.model_construct(key="k", value="v\x00")
    ]
    with pytest.raises(InvalidPosition) as err:
        validate(position)
    assert err.value.field == "options[0].transfers[0].metadata[0].value"


def test_a_backslash_followed_by_u0000_is_text_not_a_nul():
    # the quick test reads the JSON, where a NUL is written \u0000: the text "\u0000" typed
    # out (six characters) must not be taken for one
    position = _position().model_copy(update={"description": "path C:\\u0000\\x"})
    assert validate(position) == validate(_position())
