"""The GPD-compatible API beyond pagoPA's feature files: authentication, GPD's errors, one
archive behind both APIs, GPD's DELETE, validity dates, instalments and IBAN changes. Every
call goes through ``GpdClient``, which checks it against the official OpenAPI documents."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from hub import clock, payments
from hub.models import AuditEvent, DebtPosition, Ente, GpdPosition, PaymentOption, Transfer
from hub.positions import gpd as service
from tests.factories import make_receipt
from tests.web.gpd.conftest import (
    EC,
    v1_option,
    v1_position,
    v3_installment,
    v3_position,
)

pytestmark = pytest.mark.pg
NEW_IBAN = "IT40S0542811101000000123456"


def _options(factory, iupd: str) -> list[PaymentOption]:
    with factory() as s:
        return list(
            s.scalars(
                sa.select(PaymentOption)
                .join(DebtPosition)
                .where(DebtPosition.iupd == iupd)
                .order_by(PaymentOption.id)
            )
        )


def _pay(factory, iuv: str, receipt_id: str) -> None:
    with factory.begin() as s:
        ente = s.scalar(sa.select(Ente).where(Ente.fiscal_code == EC))
        option = s.scalar(sa.select(PaymentOption).where(PaymentOption.iuv == iuv))
        payments.activate(
            s, ente, option.notice_number, requested_cents=option.amount_cents, primitive="t"
        )
        payments.store_receipt(s, make_receipt(option, EC, receipt_id=receipt_id))


def test_a_missing_or_unknown_key_is_401_and_another_organization_403(gpd):
    body = v1_position("AUTH-1")
    # without a key the request itself breaks the document (security: ApiKey): not checked
    res = gpd.call("POST", "v1", "/debtpositions", body, key=None, check_request=False)
    assert res.status_int == 401
    assert gpd.call("POST", "v1", "/debtpositions", body, key="ph_nope_x").status_int == 401
    other = gpd.call("POST", "v1", "/debtpositions", body, org="00112233445")
    assert other.status_int == 403
    unknown = gpd.call("GET", "v3", "/debtpositions/AUTH-1", org="99999999999")
    assert unknown.status_int == 403  # the same answer whether the organization exists or not
    with gpd.factory() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(DebtPosition)) == 0


def test_invalid_input_is_a_400_problem_naming_the_field_and_writes_nothing(gpd):
    bad_sum = v1_position("BAD-1")
    bad_sum["paymentOption"][0]["amount"] = 9999  # transfers add up to 10000
    res = gpd.call("POST", "v1", "/debtpositions", bad_sum)
    assert res.status_int == 400
    assert res.json["status"] == 400 and "transfers" in res.json["detail"]
    bad_iban = v1_position("BAD-2")
    bad_iban["paymentOption"][0]["transfer"][0]["iban"] = "IT00X0542811101000000123456"
    res = gpd.call("POST", "v1", "/debtpositions", bad_iban)
    assert res.status_int == 400 and "iban" in res.json["detail"]
    no_options = v3_position("BAD-3")
    no_options["paymentOption"] = []
    # a body the document itself refuses: sent without the client's check
    res = gpd.app.post(
        f"/gpd/debt-positions-service/v3/organizations/{EC}/debtpositions",
        json.dumps(no_options),
        headers={"Ocp-Apim-Subscription-Key": gpd.key},
        content_type="application/json",
        expect_errors=True,
    )
    assert res.status_int == 400 and res.json["detail"].startswith("paymentOption")
    with gpd.factory() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(DebtPosition)) == 0


def test_an_iupd_or_iuv_taken_is_a_409(gpd):
    first = v1_position("DUP-1")
    assert gpd.call("POST", "v1", "/debtpositions", first).status_int == 201
    again = gpd.call("POST", "v1", "/debtpositions", v1_position("DUP-1"))
    assert again.status_int == 409 and again.json["title"] == "Conflict"
    same_iuv = v1_position("DUP-2", [v1_option(iuv=first["paymentOption"][0]["iuv"])])
    assert gpd.call("POST", "v1", "/debtpositions", same_iuv).status_int == 409
    assert gpd.call("GET", "v1", "/debtpositions/DUP-2").status_int == 404


def test_one_archive_behind_both_apis(gpd):
    """A position created through GPD is our REST API's, and the other way round; both are
    audited as the same key's writes."""
    body = v1_position("BOTH-1")
    assert (
        gpd.call("POST", "v1", "/debtpositions", body, params={"toPublish": "true"}).status_int
        == 201
    )
    ours = gpd.app.get(
        f"/api/v1/enti/{EC}/debt-positions/BOTH-1", headers={"Authorization": f"Bearer {gpd.key}"}
    ).json
    assert ours["options"][0]["noticeNumber"] == "3" + body["paymentOption"][0]["iuv"]
    assert ours["options"][0]["status"] == "payable"
    created = gpd.app.post_json(
        f"/api/v1/enti/{EC}/debt-positions",
        {
            "iupd": "REST-1",
            "debtorType": "F",
            "debtorFiscalCode": "RSSMRA80A01H501U",
            "debtorName": "Mario Rossi",
            "description": "Mensa",
            "options": [
                {
                    "amount": "12.50",
                    "dueDate": (clock.today() + dt.timedelta(days=10)).isoformat(),
                    "transfers": [
                        {
                            "amount": "12.50",
                            "remittanceInformation": "Mensa",
                            "category": "9/0201109SE/",
                            "iban": "IT60X0542811101000000123456",
                        }
                    ],
                }
            ],
        },
        headers={"Authorization": f"Bearer {gpd.key}"},
    ).json
    res = gpd.call("GET", "v3", "/debtpositions/REST-1")
    installment = res.json["paymentOption"][0]["installments"][0]
    assert installment["nav"] == created["options"][0]["noticeNumber"]
    assert installment["amount"] == 1250 and res.json["status"] == "DRAFT"
    assert res.json["companyName"] == "Testing S.p.A."  # the Ente's own name
    with gpd.factory() as s:
        actions = s.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert "debt_position.create" in actions and "api.view_personal_data" in actions


def test_a_paid_position_cannot_be_updated_deleted_or_invalidated(gpd):
    body = v1_position("PAID-1")
    gpd.call("POST", "v1", "/debtpositions", body, params={"toPublish": "true"})
    _pay(gpd.factory, body["paymentOption"][0]["iuv"], "r-paid-1")
    assert gpd.call("PUT", "v1", "/debtpositions/PAID-1", body).status_int == 409
    assert gpd.call("DELETE", "v1", "/debtpositions/PAID-1").status_int == 409
    assert gpd.call("POST", "v1", "/debtpositions/PAID-1/invalidate").status_int == 409
    res = gpd.call("GET", "v1", "/debtpositions/PAID-1")
    assert res.json["status"] == "PAID"
    option = res.json["paymentOption"][0]
    assert option["status"] == "PO_PAID" and option["idReceipt"] == "r-paid-1"
    assert option["fee"] == 100 and "paymentDate" in option


def test_delete_cancels_through_the_state_machine_and_hides_the_position(gpd):
    gpd.call("POST", "v3", "/debtpositions", v3_position("DEL-1"), params={"toPublish": "true"})
    assert gpd.call("DELETE", "v3", "/debtpositions/DEL-1").json == "OK"
    assert gpd.call("GET", "v3", "/debtpositions/DEL-1").status_int == 404
    assert gpd.call("DELETE", "v3", "/debtpositions/DEL-1").status_int == 404
    assert [o.status for o in _options(gpd.factory, "DEL-1")] == ["cancelled"]
    listed = gpd.call("GET", "v3", "/debtpositions").json["payment_position_list"]
    assert "DEL-1" not in [p["iupd"] for p in listed]
    # the IUPD stays taken: the archive keeps the cancelled position and its history
    assert gpd.call("POST", "v3", "/debtpositions", v3_position("DEL-1")).status_int == 409


def test_invalidate_makes_a_published_position_invalid_and_a_draft_is_409(gpd):
    gpd.call("POST", "v1", "/debtpositions", v1_position("INV-1"))
    assert gpd.call("POST", "v1", "/debtpositions/INV-1/invalidate").status_int == 409
    gpd.call("POST", "v1", "/debtpositions/INV-1/publish")
    assert gpd.call("POST", "v1", "/debtpositions/INV-1/publish").status_int == 409
    res = gpd.call("POST", "v1", "/debtpositions/INV-1/invalidate")
    assert res.json["status"] == "INVALID"
    assert [o.status for o in _options(gpd.factory, "INV-1")] == ["cancelled"]


def test_a_validity_date_ahead_keeps_the_notice_unpayable_until_it_comes(gpd):
    fake = clock.FakeClock(clock.now())
    with clock.use(fake):
        validity = (clock.local(clock.now()) + dt.timedelta(hours=2)).replace(microsecond=0)
        body = v1_position("VAL-1", validityDate=validity.isoformat())
        res = gpd.call("POST", "v1", "/debtpositions", body, params={"toPublish": "true"})
        assert res.json["status"] == "PUBLISHED"
        assert res.json["validityDate"] == validity.isoformat()
        with gpd.factory.begin() as s:
            assert service.publish_due(s) == 0
        assert [o.status for o in _options(gpd.factory, "VAL-1")] == ["draft"]
        fake.advance(dt.timedelta(hours=2, seconds=1))
        # what the scheduler's actor runs, with no GPD client asking meanwhile
        with gpd.factory.begin() as s:
            assert service.publish_due(s) == 1
            assert service.publish_due(s) == 0
        assert [o.status for o in _options(gpd.factory, "VAL-1")] == ["payable"]
        assert gpd.call("GET", "v1", "/debtpositions/VAL-1").json["status"] == "VALID"


def test_an_instalment_paid_makes_the_position_partially_paid(gpd):
    """The first scenario of debt-position-installments.feature (pytest-bdd runs only the
    second of two scenarios of the same name): a plan of two and a pay-in-full option."""
    plan = [v3_installment(5000, due=5), v3_installment(5000, due=35)]
    single = [v3_installment(10000, due=5)]
    body = v3_position("INST-1", [plan, single])
    assert (
        gpd.call("POST", "v3", "/debtpositions", body, params={"toPublish": "true"}).status_int
        == 201
    )
    _pay(gpd.factory, plan[0]["iuv"], "r-inst-1")
    res = gpd.call("GET", "v3", "/debtpositions/INST-1")
    assert res.json["status"] == "PARTIALLY_PAID"
    groups = res.json["paymentOption"]
    assert [[i["status"] for i in g["installments"]] for g in groups] == [
        ["PAID", "UNPAID"],
        ["UNPAID"],
    ]
    assert gpd.call("GET", "v1", f"/paymentoptions/{plan[1]['iuv']}").status_int == 200


def test_the_list_pages_and_filters_as_gpd(gpd):
    for n in range(3):
        gpd.call("POST", "v1", "/debtpositions", v1_position(f"LIST-{n}"))
    gpd.call("POST", "v1", "/debtpositions/LIST-1/publish")
    page = gpd.call(
        "GET", "v1", "/debtpositions", params={"limit": "2", "orderby": "IUPD", "ordering": "ASC"}
    )
    assert [p["iupd"] for p in page.json["payment_position_list"]] == ["LIST-0", "LIST-1"]
    assert page.json["page_info"] == {"page": 0, "limit": 2, "items_found": 2, "total_pages": 2}
    valid = gpd.call("GET", "v3", "/debtpositions", params={"status": "VALID"})
    assert [p["iupd"] for p in valid.json["payment_position_list"]] == ["LIST-1"]
    # queries the document refuses: sent without checking the request, the answer still checked
    for bad in ({"limit": "51"}, {"due_date_from": "x"}, {"status": "UNPAYABLE"}):
        res = gpd.call("GET", "v1", "/debtpositions", params=bad, check_request=False)
        assert res.status_int == 400, bad


def test_iban_change_moves_only_transfers_still_payable(gpd):
    paid, open_ = v1_position("IBAN-1"), v1_position("IBAN-2")
    for body in (paid, open_):
        gpd.call("POST", "v1", "/debtpositions", body, params={"toPublish": "true"})
    _pay(gpd.factory, paid["paymentOption"][0]["iuv"], "r-iban-1")
    old = open_["paymentOption"][0]["transfer"][0]["iban"]
    res = gpd.call(
        "PATCH", "v1", "/debtpositions/transfers", {"newIban": NEW_IBAN}, params={"oldIban": old}
    )
    assert res.json["updatedTransfers"] == 2  # both transfers of IBAN-2
    with gpd.factory() as s:
        rows = s.execute(
            sa.select(DebtPosition.iupd, Transfer.iban)
            .join(PaymentOption, PaymentOption.position_id == DebtPosition.id)
            .join(Transfer, Transfer.option_id == PaymentOption.id)
            .where(DebtPosition.iupd.in_(["IBAN-1", "IBAN-2"]))
        ).all()
    assert {iban for iupd, iban in rows if iupd == "IBAN-2"} == {NEW_IBAN}
    assert {iban for iupd, iban in rows if iupd == "IBAN-1"} == {old}
    bad = gpd.call(
        "PATCH",
        "v1",
        "/debtpositions/transfers",
        {"newIban": "IT00X"},
        params={"oldIban": NEW_IBAN},
    )
    assert bad.status_int == 400


def test_gpd_only_fields_are_given_back(gpd):
    body = v1_position("ROUND-1", payStandIn=False, switchToExpired=True)
    gpd.call("POST", "v1", "/debtpositions", body)
    res = gpd.call("PUT", "v1", "/debtpositions/ROUND-1", body)
    assert res.status_int == 200
    for name in ("payStandIn", "switchToExpired", "phone", "region", "civicNumber", "officeName"):
        assert res.json[name] == body[name], name
    option = res.json["paymentOption"][0]
    assert option["paymentOptionMetadata"] == body["paymentOption"][0]["paymentOptionMetadata"]
    with gpd.factory() as s:
        row = s.scalar(sa.select(GpdPosition))
        assert (row.pay_stand_in, row.switch_to_expired) == (False, True)
