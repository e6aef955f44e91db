"""GPD's setPaymentOptionAsAlreadyPaid (``POST /v1/organizations/{fc}/paymentoptions/paids/
{nav}``): the option becomes paid with no receipt, its history saying so; GPD's 404, 409 and
422; a receipt arriving afterwards is a second payment. Every call is checked against GPD's
external v1 document (openapi-core), which gives this operation no ``segregationCodes``: that
GPD parameter is not tested here."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hub import dashboard, payments
from hub.models import Anomaly, DebtPosition, Ente, PaymentOption, Receipt, StateTransition
from hub.positions import gpd as service
from tests.factories import make_receipt
from tests.web.gpd.conftest import EC, v1_option, v1_position, v3_installment, v3_position

pytestmark = pytest.mark.pg


def _create(gpd, iupd: str, *, publish: bool = True, options=None) -> list[dict]:
    body = v1_position(iupd, options) if options else v1_position(iupd)
    params = {"toPublish": "true"} if publish else None
    assert gpd.call("POST", "v1", "/debtpositions", body, params=params).status_int == 201
    return body["paymentOption"]


def _mark(gpd, iuv: str, body: dict | None = None):
    return gpd.call("POST", "v1", f"/paymentoptions/paids/3{iuv}", body or {})


def _option(gpd, iuv: str) -> PaymentOption:
    with gpd.factory() as s:
        return s.scalar(sa.select(PaymentOption).where(PaymentOption.iuv == iuv))


def test_an_option_paid_elsewhere_becomes_paid_without_a_receipt_and_its_history_says_so(gpd):
    [option] = _create(gpd, "PAID-1")
    res = _mark(gpd, option["iuv"], {"paymentDate": "2026-12-01T10:30:00+01:00"})
    assert res.status_int == 200
    assert (res.json["status"], res.json["idReceipt"], res.json["pspCompany"]) == (
        "PO_PAID",
        "MARKED_AS_PAID",
        "MARKED_AS_PAID",
    )
    assert res.json["paymentDate"].startswith("2026-12-01T10:30:00")
    stored = _option(gpd, option["iuv"])
    assert (stored.status, stored.paid_cents) == ("paid", stored.amount_cents)
    with gpd.factory() as s:
        last = s.scalars(
            sa.select(StateTransition)
            .where(StateTransition.option_id == stored.id)
            .order_by(StateTransition.id.desc())
        ).first()
        assert (last.from_state, last.to_state) == ("payable", "paid")
        assert last.cause.startswith("gpd:") and last.cause.endswith(service.ALREADY_PAID_CAUSE)
        assert s.scalar(sa.select(sa.func.count()).select_from(Receipt)) == 0
        assert dashboard.paid_not_reported(s, days=-1) == []  # no flow will ever report it
    position = gpd.call("GET", "v1", "/debtpositions/PAID-1")
    assert position.json["status"] == "PAID"


def test_unknown_paid_or_unpayable_notices_get_gpds_codes(gpd):
    [paid] = _create(gpd, "PAID-2")
    [draft] = _create(gpd, "PAID-3", publish=False)
    [gone] = _create(gpd, "PAID-4")
    assert gpd.call("POST", "v1", "/debtpositions/PAID-4/invalidate").status_int == 200
    assert _mark(gpd, paid["iuv"]).status_int == 200
    assert _mark(gpd, paid["iuv"]).status_int == 409
    assert _mark(gpd, draft["iuv"]).status_int == 422
    assert _mark(gpd, gone["iuv"]).status_int == 422
    assert _mark(gpd, "01999999999999999").status_int == 404
    assert _option(gpd, draft["iuv"]).status == "draft"


def test_a_notice_being_paid_at_pagopa_is_409_and_left_as_it_is(gpd):
    [option] = _create(gpd, "PAID-5")
    stored = _option(gpd, option["iuv"])
    with gpd.factory.begin() as s:
        ente = s.scalar(sa.select(Ente).where(Ente.fiscal_code == EC))
        payments.activate(
            s, ente, stored.notice_number, requested_cents=stored.amount_cents, primitive="t"
        )
    assert _mark(gpd, option["iuv"]).status_int == 409
    assert _option(gpd, option["iuv"]).status == "in_progress"


def test_another_plan_of_the_debt_paid_elsewhere_is_409(gpd):
    plan = [v3_installment(5000, due=5), v3_installment(5000, due=35)]
    single = [v3_installment(10000, due=5)]
    body = v3_position("PAID-6", [plan, single])
    assert (
        gpd.call("POST", "v3", "/debtpositions", body, params={"toPublish": "true"}).status_int
        == 201
    )
    assert _mark(gpd, single[0]["iuv"]).status_int == 200
    assert _mark(gpd, plan[0]["iuv"]).status_int == 409


def test_a_receipt_after_it_is_a_second_payment(gpd):
    [option] = _create(gpd, "PAID-7", options=[v1_option(10000)])
    assert _mark(gpd, option["iuv"]).status_int == 200
    with gpd.factory.begin() as s:
        stored = s.scalar(sa.select(PaymentOption).where(PaymentOption.iuv == option["iuv"]))
        outcome = payments.store_receipt(s, make_receipt(stored, EC, receipt_id="r-late-1"))
        assert outcome.anomalies == ["double_payment"]
    with gpd.factory() as s:
        assert s.scalars(sa.select(Anomaly.kind)).all() == ["double_payment"]
        position = s.scalar(sa.select(DebtPosition).where(DebtPosition.iupd == "PAID-7"))
        assert {o.status for o in position.options} == {"paid"}
