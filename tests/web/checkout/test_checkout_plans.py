"""The citizen pages explain why the other plan of a debt cannot be paid (plans are exclusive)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hub import payments
from hub.models import DebtPosition, Ente
from hub.seed import SECOND_EC
from tests.factories import make_receipt

pytestmark = pytest.mark.pg


def _tari(shop) -> list[str]:
    with shop.factory() as s:
        position = s.scalars(sa.select(DebtPosition).where(DebtPosition.iupd == "TARI-2026-0001"))
        return [o.notice_number for o in position.one().options]


def test_pay_in_full_is_refused_once_an_instalment_is_paid_saying_why(shop):
    full, first, second, _ = _tari(shop)
    with shop.factory() as s:
        option = (
            s.scalars(sa.select(DebtPosition).where(DebtPosition.iupd == "TARI-2026-0001"))
            .one()
            .options[1]
        )
        payments.store_receipt(s, make_receipt(option, SECOND_EC, receipt_id="tari-1"))
        s.commit()

    refused = shop.lookup(full, ec=SECOND_EC)
    assert refused.status_int == 422
    assert "already being paid another way" in refused
    assert "in your cart" not in refused
    assert shop.lookup(second, ec=SECOND_EC).status_int == 303  # the plan goes on
    assert first != second


def test_a_cart_holds_one_plan_of_a_debt(shop):
    full, first, second, _ = _tari(shop)
    assert shop.lookup(first, ec=SECOND_EC).status_int == 303
    assert shop.lookup(second, ec=SECOND_EC).status_int == 303
    refused = shop.lookup(full, ec=SECOND_EC)
    assert "another way of paying this debt" in refused
    cart = shop.app.get("/pay/cart")
    assert "300.00" not in cart.text and "200.00" in cart.text


def test_a_plan_started_elsewhere_stops_the_cart_at_submit_saying_why(shop):
    full, first, *_ = _tari(shop)
    assert shop.lookup(full, ec=SECOND_EC).status_int == 303
    with shop.factory() as s:
        position = s.scalars(
            sa.select(DebtPosition).where(DebtPosition.iupd == "TARI-2026-0001")
        ).one()
        payments.activate(
            s,
            s.get(Ente, position.ente_id),
            first,
            requested_cents=10000,
            primitive="paGetPaymentV2",
        )
        s.commit()
    answer = shop.pay()
    assert answer.status_int == 409
    assert "by another plan (in full, or by instalments) is in progress" in answer
    assert shop.checkout.carts == []
