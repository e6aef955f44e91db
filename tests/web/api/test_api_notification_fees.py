"""SEND notification fees through /api/v1: ``notificationFee`` on an option is added to its
amount and to the Ente's own transfer, kept or changed on a replace, answered back."""

from __future__ import annotations

import pytest

from tests.web.api.conftest import DUE, position_body, transfer

pytestmark = pytest.mark.pg


def _with_fee(fee: str | None, iupd: str = "FEE-1", **option) -> dict:
    body = position_body(iupd)
    if fee is not None:
        body["options"][0]["notificationFee"] = fee
    body["options"][0].update(option)
    return body


def _put(world, body: dict, etag: str):
    del body["iupd"]
    return world.app.put_json(
        world.url("/FEE-1"), body, headers={**world.auth(), "If-Match": etag}, status="*"
    )


def test_a_fee_given_on_create_is_in_the_amount_the_own_transfer_and_the_answer(world):
    created = world.app.post_json(world.url(), _with_fee("1.50"), headers=world.auth())
    [option] = created.json["options"]
    assert (option["amount"], option["notificationFee"]) == ("31.50", "1.50")
    assert option["transfers"][0]["amount"] == "31.50"
    read = world.app.get(world.url("/FEE-1"), headers=world.auth()).json
    assert read["options"][0]["notificationFee"] == "1.50"


def test_a_position_without_a_fee_answers_none(world):
    created = world.app.post_json(world.url(), position_body("NOFEE"), headers=world.auth())
    assert created.json["options"][0]["notificationFee"] is None
    assert created.json["options"][0]["amount"] == "30.00"


def test_a_replace_keeps_the_fee_when_left_out_and_changes_it_when_given(world):
    created = world.app.post_json(world.url(), _with_fee("1.50"), headers=world.auth())
    notice = created.json["options"][0]["noticeNumber"]
    kept = _put(world, _with_fee(None, noticeNumber=notice), created.headers["ETag"])
    assert kept.status_int == 200
    assert (kept.json["options"][0]["amount"], kept.json["options"][0]["notificationFee"]) == (
        "31.50",
        "1.50",
    )
    changed = _put(world, _with_fee("2.00", noticeNumber=notice), kept.headers["ETag"])
    assert changed.json["options"][0]["amount"] == "32.00"
    assert changed.json["options"][0]["transfers"][0]["amount"] == "32.00"
    removed = _put(world, _with_fee("0.00", noticeNumber=notice), changed.headers["ETag"])
    assert removed.json["options"][0]["amount"] == "30.00"


def test_only_the_entes_own_transfer_carries_the_fee(world):
    body = position_body("FEE-2")
    body["options"] = [
        {
            "amount": "30.00",
            "dueDate": DUE,
            "notificationFee": "1.00",
            "transfers": [
                transfer("20.00", beneficiaryFiscalCode=world.other),
                transfer("10.00"),
            ],
        }
    ]
    created = world.app.post_json(world.url(), body, headers=world.auth()).json
    assert [t["amount"] for t in created["options"][0]["transfers"]] == ["20.00", "11.00"]


def test_a_fee_without_a_transfer_to_the_ente_is_422_and_writes_nothing(world):
    body = position_body("FEE-3")
    body["options"][0]["notificationFee"] = "1.00"
    body["options"][0]["transfers"] = [transfer(beneficiaryFiscalCode=world.other)]
    refused = world.app.post_json(world.url(), body, headers=world.auth(), status=422)
    assert refused.json["field"] == "options[0].notificationFee"
    assert world.app.get(world.url("/FEE-3"), headers=world.auth(), status=404)


@pytest.mark.parametrize("fee", ["1.5", "-1.00", 150])
def test_a_badly_written_fee_is_422_naming_it(world, fee):
    refused = world.app.post_json(world.url(), _with_fee(fee), headers=world.auth(), status=422)
    assert refused.json["field"] == "options[0].notificationFee"


def test_the_openapi_document_describes_the_fee_on_input_and_output(world):
    doc = world.app.get("/api/v1/openapi.json").json
    schemas = doc["components"]["schemas"]
    assert "notificationFee" in schemas["OptionInput"]["properties"]
    assert "notificationFee" in schemas["OptionOutput"]["properties"]
