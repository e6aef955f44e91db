"""The citizen's outcome page says a refund is under way when a payment opened a refund case."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hub import payments, refunds
from hub.models import Ente, PaymentOption, RefundCase
from tests.factories import make_receipt
from tests.web.checkout.conftest import SANP_NOTICE

pytestmark = pytest.mark.pg


def test_a_double_payment_shows_refund_in_progress_then_refunded(shop):
    shop.lookup()
    shop.pay()
    cart_id = shop.checkout.carts[0].id_cart
    with shop.factory.begin() as session:
        option = session.scalars(
            sa.select(PaymentOption).where(PaymentOption.notice_number == SANP_NOTICE)
        ).one()
        ec = session.get(Ente, option.ente_id)
        for n in (1, 2):  # the second receipt collects the notice twice
            payments.store_receipt(
                session, make_receipt(option, ec.fiscal_code, receipt_id=f"rcpt-twice-{n}")
            )
    page = shop.app.get(f"/pay/carts/{cart_id}")
    assert "Payment completed" in page and "Refund in progress." in page
    assert "refund in progress: € 30.00" in page.text.replace("&nbsp;", " ")

    with shop.factory.begin() as session:
        case = session.scalars(sa.select(RefundCase)).one()
        for event, fields in (
            ("submit", {}),
            ("approve", {}),
            ("order", {"payer_iban": "IT60X0542811101000000123456"}),
            ("confirm", {"bank_reference": "CRO 1"}),
        ):
            support = event == "submit"
            refunds.step(session, case, event, by="ops:x", as_support=support, **fields)
    page = shop.app.get(f"/pay/carts/{cart_id}")
    assert "refunded: € 30.00" in page.text.replace("&nbsp;", " ")


def test_no_refund_note_for_a_plain_payment(shop):
    shop.lookup()
    shop.pay()
    cart_id = shop.checkout.carts[0].id_cart
    with shop.factory.begin() as session:
        option = session.scalars(
            sa.select(PaymentOption).where(PaymentOption.notice_number == SANP_NOTICE)
        ).one()
        ec = session.get(Ente, option.ente_id)
        payments.store_receipt(session, make_receipt(option, ec.fiscal_code, receipt_id="r-once"))
    page = shop.app.get(f"/pay/carts/{cart_id}")
    assert "Payment completed" in page and "Refund in progress" not in page
