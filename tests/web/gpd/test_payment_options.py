"""Payment options (orgs_payment_options.json) answered from the archive: groups, statuses,
ODP error codes, authentication; every request and answer checked against the document."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from hub import clock, payments
from hub.models import Ente, PaymentOption
from tests.factories import make_receipt
from tests.web.gpd.conftest import EC, v1_position, v3_installment, v3_position

pytestmark = pytest.mark.pg


def _plan_and_single(gpd, iupd: str = "ODP-1") -> tuple[list[dict], list[dict]]:
    plan = [v3_installment(5000, due=40), v3_installment(5000, due=70)]
    single = [v3_installment(10000, due=10)]
    body = v3_position(iupd, [plan, single])
    res = gpd.call("POST", "v3", "/debtpositions", body, params={"toPublish": "true"})
    assert res.status_int == 201
    return plan, single


def _pay(gpd, iuv: str) -> None:
    with gpd.factory.begin() as s:
        ente = s.scalar(sa.select(Ente).where(Ente.fiscal_code == EC))
        option = s.scalar(sa.select(PaymentOption).where(PaymentOption.iuv == iuv))
        payments.activate(s, ente, option.notice_number, requested_cents=5000, primitive="t")
        payments.store_receipt(s, make_receipt(option, EC, receipt_id="r-" + iuv))


def test_every_option_of_the_notice_with_its_status_by_due_date(gpd):
    plan, single = _plan_and_single(gpd)
    res = gpd.payment_options("3" + plan[1]["iuv"])
    assert res.status_int == 200
    body = res.json
    assert (body["organizationFiscalCode"], body["companyName"], body["standin"]) == (
        EC,
        "Testing S.p.A.",
        False,
    )
    groups = body["paymentOptions"]
    assert [g["description"] for g in groups] == [
        "Pagamento in un'unica soluzione",
        "Piano rateale in 2 rate",
    ]
    assert [g["amount"] for g in groups] == [10000, 10000]
    assert [g["status"] for g in groups] == ["PO_UNPAID", "PO_UNPAID"]
    assert [i["nav"] for i in groups[1]["installments"]] == ["3" + p["iuv"] for p in plan]
    assert [i["nav"] for i in groups[0]["installments"]] == ["3" + single[0]["iuv"]]
    assert groups[0]["allCCP"] is False


def test_a_paid_instalment_shows_the_plan_partially_paid(gpd):
    plan, _single = _plan_and_single(gpd)
    _pay(gpd, plan[0]["iuv"])
    groups = gpd.payment_options("3" + plan[1]["iuv"]).json["paymentOptions"]
    assert groups[1]["status"] == "PO_PARTIALLY_PAID"
    assert [i["status"] for i in groups[1]["installments"]] == ["POI_PAID", "POI_UNPAID"]
    # the paid notice itself: PAA_PAGAMENTO_DUPLICATO
    paid = gpd.payment_options("3" + plan[0]["iuv"])
    assert (paid.status_int, paid.json["appErrorCode"]) == (409, "ODP-108")
    assert paid.json["errorMessage"].startswith("PAA_PAGAMENTO_DUPLICATO")


def test_the_odp_error_codes(gpd):
    plan, single = _plan_and_single(gpd)
    assert gpd.payment_options("ABCDEF").json["appErrorCode"] == "ODP-101"
    assert gpd.payment_options("3" + "9" * 17).json["appErrorCode"] == "ODP-107"
    other = gpd.payment_options("3" + plan[0]["iuv"], org="00112233445")
    assert (other.status_int, other.json["appErrorCode"]) == (400, "ODP-104")
    gpd.call("DELETE", "v3", "/debtpositions/ODP-1")
    cancelled = gpd.payment_options("3" + single[0]["iuv"])
    assert (cancelled.status_int, cancelled.json["appErrorCode"]) == (422, "ODP-111")
    draft = v1_position("ODP-DRAFT")
    gpd.call("POST", "v1", "/debtpositions", draft)
    assert gpd.payment_options("3" + draft["paymentOption"][0]["iuv"]).status_int == 404
    expiring = v1_position("ODP-EXP")
    expiring["paymentOption"][0]["retentionDate"] = (
        clock.local(clock.now()) + dt.timedelta(days=1)
    ).isoformat()
    gpd.call("POST", "v1", "/debtpositions", expiring, params={"toPublish": "true"})
    with clock.use(clock.FakeClock(clock.now() + dt.timedelta(days=3))):
        expired = gpd.payment_options("3" + expiring["paymentOption"][0]["iuv"])
    assert (expired.status_int, expired.json["appErrorCode"]) == (422, "ODP-110")


def test_a_key_is_required(gpd):
    plan, _ = _plan_and_single(gpd)
    for key in (None, "ph_unknown_key"):
        res = gpd.payment_options("3" + plan[0]["iuv"], key=key, check=False)
        assert res.status_int == 401 and res.json["httpStatusCode"] == 401
