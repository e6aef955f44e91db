"""Debt positions through the API: create, read, change with If-Match, publish, cancel, list."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from hub import clock, payments
from hub.models import DebtPosition, Receipt
from tests.factories import make_receipt
from tests.web.api.conftest import DUE, position_body, transfer

pytestmark = pytest.mark.pg
POSTAL = "IT10N0760101600000000123456"


def _create(world, body=None, publish=False, **kw):
    url = world.url() + ("?publish=true" if publish else "")
    return world.app.post_json(url, body or position_body(), headers=world.auth(), **kw)


def test_create_answers_201_with_notice_number_etag_and_location(world):
    response = _create(world, status=201)
    body = response.json
    assert response.headers["Location"].endswith("/debt-positions/IUPD-1")
    assert response.headers["ETag"] == f'"{body["version"]}"'
    [option] = body["options"]
    assert option["noticeNumber"].startswith("301") and option["status"] == "draft"
    assert option["amount"] == "30.00" and option["transfers"][0]["amount"] == "30.00"
    assert option["transfers"][0]["beneficiaryFiscalCode"] == world.ente
    assert body["status"] == "draft" and body["options"][0]["history"] == []


def test_create_published_with_a_plan_and_a_pay_in_full_option(world):
    plan = [
        {
            "amount": "10.00",
            "dueDate": DUE,
            "instalmentNumber": n,
            "instalmentCount": 3,
            "transfers": [transfer("10.00")],
        }
        for n in (1, 2, 3)
    ]
    full = {
        "amount": "30.00",
        "dueDate": DUE,
        "transfers": [
            transfer("20.00"),
            transfer("10.00", iban=None, postalIban=POSTAL, beneficiaryFiscalCode=world.other),
        ],
    }
    body = _create(
        world, position_body(options=[full, *plan], serviceCode="MENSA"), publish=True
    ).json
    assert body["status"] == "payable" and body["serviceCode"] == "MENSA"
    assert [o["status"] for o in body["options"]] == ["payable"] * 4
    assert body["options"][0]["history"][0] | {"at": None} == {
        "event": "publish",
        "fromState": "draft",
        "toState": "payable",
        "at": None,
    }
    assert body["options"][0]["transfers"][1]["postalIban"] == POSTAL


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"unknown": 1}, "unknown"),
        ({"debtorType": "X"}, "debtorType"),
        ({"debtorFiscalCode": "RSSMRA80A01H501X"}, "debtorFiscalCode"),
        (
            {"options": [{"amount": 30, "dueDate": DUE, "transfers": [transfer()]}]},
            "options[0].amount",
        ),
        (
            {"options": [{"amount": "30.0", "dueDate": DUE, "transfers": [transfer()]}]},
            "options[0].amount",
        ),
        (
            {"options": [{"amount": "31.00", "dueDate": DUE, "transfers": [transfer()]}]},
            "options[0].transfers",
        ),
        (
            {
                "options": [
                    {
                        "amount": "30.00",
                        "dueDate": DUE,
                        "transfers": [transfer(iban="IT60X0542811101000000123457")],
                    }
                ]
            },
            "options[0].transfers[0].iban",
        ),
        (
            {
                "options": [
                    {
                        "amount": "30.00",
                        "dueDate": DUE,
                        "transfers": [
                            transfer(iban=None, postalIban="IT60X0542811101000000123456")
                        ],
                    }
                ]
            },
            "options[0].transfers[0].postalIban",
        ),
        (
            {"options": [{"amount": "30.00", "dueDate": DUE, "transfers": [transfer()] * 6}]},
            "options[0].transfers",
        ),
        (
            {"options": [{"amount": "30.00", "dueDate": "2026-02-30", "transfers": [transfer()]}]},
            "options[0].dueDate",
        ),
        (
            {
                "options": [
                    {
                        "amount": "30.00",
                        "dueDate": DUE,
                        "instalmentNumber": 2,
                        "instalmentCount": 1,
                        "transfers": [transfer()],
                    }
                ]
            },
            "options[0].instalmentNumber",
        ),
        ({"serviceCode": "NOPE"}, "serviceCode"),
    ],
)
def test_invalid_bodies_are_422_naming_the_field_and_write_nothing(world, change, field):
    problem = _create(world, position_body(**change), status=422).json
    assert problem["field"] == field, problem
    assert problem["errors"][0]["field"] == field
    with world.factory() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(DebtPosition)) == 0


def test_malformed_json_is_400_and_another_media_type_415(world):
    r = world.app.post(
        world.url(), "{not json", headers=world.auth(), content_type="application/json", status=400
    )
    assert r.json["field"] == "body"
    world.app.post(world.url(), "iupd=1", headers=world.auth(), status=415)


def test_a_second_position_with_the_same_iupd_or_notice_is_409(world):
    first = _create(world).json
    assert _create(world, status=409).json["field"] == "iupd"
    notice = first["options"][0]["noticeNumber"]
    body = position_body("IUPD-2")
    body["options"][0]["noticeNumber"] = notice
    assert _create(world, body, status=409).json["field"] == "options[0].noticeNumber"


def test_idempotency_key_replays_the_first_answer_and_refuses_another_body(world):
    headers = {**world.auth(), "Idempotency-Key": "k-1"}
    first = world.app.post_json(world.url(), position_body(), headers=headers, status=201)
    again = world.app.post_json(world.url(), position_body(), headers=headers, status=201)
    assert again.json == first.json and again.headers["Location"] == first.headers["Location"]
    other = world.app.post_json(world.url(), position_body("IUPD-9"), headers=headers, status=422)
    assert other.json["field"] == "Idempotency-Key"
    with world.factory() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(DebtPosition)) == 1


def test_get_by_iupd_and_by_notice_number(world):
    created = _create(world, publish=True).json
    notice = created["options"][0]["noticeNumber"]
    by_iupd = world.app.get(world.url("/IUPD-1"), headers=world.auth())
    assert by_iupd.json["iupd"] == "IUPD-1" and by_iupd.headers["ETag"]
    by_notice = world.app.get(
        f"/api/v1/enti/{world.ente}/notices/{notice}", headers=world.auth()
    ).json
    assert by_notice["iupd"] == "IUPD-1"
    world.app.get(world.url("/NOPE"), headers=world.auth(), status=404)


def test_put_needs_the_current_etag(world):
    created = _create(world, publish=True)
    body = position_body()
    del body["iupd"]
    body["options"][0]["noticeNumber"] = created.json["options"][0]["noticeNumber"]
    body["options"][0]["amount"] = "45.00"
    body["options"][0]["transfers"] = [transfer("45.00")]
    world.app.put_json(world.url("/IUPD-1"), body, headers=world.auth(), status=428)
    updated = world.app.put_json(
        world.url("/IUPD-1"), body, headers={**world.auth(), "If-Match": created.headers["ETag"]}
    )
    assert updated.json["options"][0]["amount"] == "45.00"
    assert updated.json["options"][0]["status"] == "payable"
    assert updated.headers["ETag"] != created.headers["ETag"]
    stale = world.app.put_json(
        world.url("/IUPD-1"),
        body,
        headers={**world.auth(), "If-Match": created.headers["ETag"]},
        status=412,
    )
    assert stale.json["field"] == "If-Match"


def test_put_leaving_an_option_out_cancels_it_and_adds_new_ones(world):
    created = _create(world, publish=True)
    body = position_body()
    del body["iupd"]
    updated = world.app.put_json(
        world.url("/IUPD-1"), body, headers={**world.auth(), "If-Match": created.headers["ETag"]}
    ).json
    assert [o["status"] for o in updated["options"]] == ["cancelled", "payable"]
    assert updated["status"] == "payable"


def test_patch_changes_own_fields(world):
    created = _create(world)
    patched = world.app.patch_json(
        world.url("/IUPD-1"),
        {"debtorName": "Maria Rossi"},
        headers={**world.auth(), "If-Match": created.headers["ETag"]},
    )
    assert patched.json["debtorName"] == "Maria Rossi"
    world.app.patch_json(
        world.url("/IUPD-1"),
        {"options": []},
        headers={**world.auth(), "If-Match": patched.headers["ETag"]},
        status=422,
    )


def _activate(world, notice):
    with world.factory.begin() as session:
        from hub.models import Ente

        ente = session.scalar(sa.select(Ente).where(Ente.fiscal_code == world.ente))
        payments.activate(session, ente, notice, requested_cents=3000, primitive="test")


def test_nothing_changes_once_a_payment_is_in_progress(world):
    created = _create(world, publish=True)
    _activate(world, created.json["options"][0]["noticeNumber"])
    fresh = world.app.get(world.url("/IUPD-1"), headers=world.auth())
    conflict = world.app.patch_json(
        world.url("/IUPD-1"),
        {"debtorName": "X"},
        headers={**world.auth(), "If-Match": fresh.headers["ETag"]},
        status=409,
    )
    assert "in_progress" in conflict.json["detail"]
    world.app.post_json(world.url("/IUPD-1/cancel"), {}, headers=world.auth(), status=409)


def test_cancel_goes_through_the_state_machine(world):
    _create(world, publish=True)
    cancelled = world.app.post_json(world.url("/IUPD-1/cancel"), {}, headers=world.auth()).json
    assert cancelled["status"] == "cancelled"
    assert [h["event"] for h in cancelled["options"][0]["history"]] == ["publish", "cancel"]
    world.app.post_json(world.url("/IUPD-1/cancel"), {}, headers=world.auth(), status=409)


def test_publish_makes_draft_options_payable(world):
    _create(world)
    published = world.app.post_json(world.url("/IUPD-1/publish"), {}, headers=world.auth())
    assert published.json["status"] == "payable" and published.json["publishedAt"]


def test_list_filters_and_pages_with_a_cursor(world):
    for n in range(5):
        _create(world, position_body(f"L-{n}"), publish=n % 2 == 0)
    first = world.app.get(world.url("?limit=2"), headers=world.auth()).json
    assert [p["iupd"] for p in first["items"]] == ["L-0", "L-1"]
    second = world.app.get(
        world.url(f"?limit=2&cursor={first['nextCursor']}"), headers=world.auth()
    ).json
    assert [p["iupd"] for p in second["items"]] == ["L-2", "L-3"]
    payable = world.app.get(world.url("?status=payable"), headers=world.auth()).json
    assert [p["iupd"] for p in payable["items"]] == ["L-0", "L-2", "L-4"]
    later = (clock.today() + dt.timedelta(days=31)).isoformat()
    assert (
        world.app.get(world.url(f"?dueDateFrom={later}"), headers=world.auth()).json["items"] == []
    )
    assert (
        len(
            world.app.get(
                world.url("?debtorFiscalCode=RSSMRA80A01H501U"), headers=world.auth()
            ).json["items"]
        )
        == 5
    )
    bad = world.app.get(world.url("?colour=red"), headers=world.auth(), status=400)
    assert bad.json["field"] == "colour"
    assert (
        world.app.get(world.url("?cursor=zzz"), headers=world.auth(), status=400).json["field"]
        == "cursor"
    )


def test_receipts_as_json_and_original_xml_and_payment_date_filter(world):
    created = _create(world, publish=True).json
    notice = created["options"][0]["noticeNumber"]
    with world.factory.begin() as session:
        from hub.models import PaymentOption

        option = session.scalar(
            sa.select(PaymentOption).where(PaymentOption.notice_number == notice)
        )
        receipt = make_receipt(option, world.ente, receipt_id="rcpt-1")
        receipt.raw_xml = "<paSendRTV2Request><receiptId>rcpt-1</receiptId></paSendRTV2Request>"
        payments.store_receipt(session, receipt)
    base = f"/api/v1/enti/{world.ente}"
    listed = world.app.get(f"{base}/notices/{notice}/receipts", headers=world.auth()).json
    assert listed["items"][0]["receiptId"] == "rcpt-1"
    assert listed["items"][0]["amount"] == "30.00"
    xml = world.app.get(f"{base}/receipts/rcpt-1/xml", headers=world.auth())
    assert xml.content_type == "application/xml" and "<receiptId>rcpt-1" in xml.text
    world.app.get(
        f"/api/v1/enti/{world.other}/receipts/rcpt-1",
        headers=world.auth(world.other_key),
        status=404,
    )
    position = world.app.get(world.url("/IUPD-1"), headers=world.auth()).json
    assert position["options"][0]["status"] == "paid"
    today = clock.today().isoformat()
    paid = world.app.get(
        world.url(f"?paymentDateFrom={today}&paymentDateTo={today}"), headers=world.auth()
    ).json
    assert [p["iupd"] for p in paid["items"]] == ["IUPD-1"]
    with world.factory() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Receipt)) == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"description": "TARI\u00002026"}, "description"),
        ({"debtorName": "\u0000"}, "debtorName"),
        (
            {
                "options": [
                    {
                        "amount": "30.00",
                        "dueDate": DUE,
                        "transfers": [transfer(remittanceInformation="a\u0000")],
                    }
                ]
            },
            "options[0].transfers[0].remittanceInformation",
        ),
    ],
)
def test_a_nul_character_in_the_body_is_a_422_naming_the_field(world, change, field):
    problem = _create(world, position_body(**change), status=422).json
    assert problem["field"] == field and "NUL" in problem["detail"]


@pytest.mark.parametrize("param", ["debtorFiscalCode", "serviceCode", "cursor"])
def test_a_nul_character_in_a_filter_is_a_400_naming_it(world, param):
    problem = world.app.get(f"{world.url()}?{param}=a%00", headers=world.auth(), status=400).json
    assert problem["field"] == param and "NUL" in problem["detail"]
