"""The payer's receipt PDF: one fee per PSP transaction (not one per notice), the totals
without and with fees, the payment time in Italian time with its zone."""

from __future__ import annotations

import datetime as dt
import io

from pypdf import PdfReader
from pyramid.i18n import Localizer

from hub.checkout import CartOutcome
from hub.checkout.carts import ItemOutcome
from hub.models import CartItem, CheckoutCart, Ente, PaymentOption, Receipt
from web.checkout.receipt_pdf import render_receipt, transaction_fees

PAID_AT = dt.datetime(2026, 7, 15, 12, 5, tzinfo=dt.UTC)  # 14:05 in Rome (summer time)


def _item(n: int, cents: int, *, psp: str = "Banca Uno", fee: int = 120) -> ItemOutcome:
    option = PaymentOption(notice_number=f"30100000000000000{n}", status="paid")
    receipt = Receipt(
        receipt_id=f"rcpt-{n}",
        notice_number=option.notice_number,
        psp_company_name=psp,
        payment_method="CP",
        fee_cents=fee,
        payment_date_time=PAID_AT,
        received_at=PAID_AT,
    )
    item = CartItem(ente_id=1, amount_cents=cents, description=f"Rata {n}")
    return ItemOutcome(item, option, receipt)


def _pdf_text(result: CartOutcome) -> str:
    localizer = Localizer("en", None)  # no catalogue: the English source texts
    cart = CheckoutCart(public_id="c" * 32)
    body = render_receipt(localizer, cart, result, {1: Ente(id=1, name="Comune di Demo")})
    return PdfReader(io.BytesIO(body)).pages[0].extract_text().replace("\n", " ")


def test_a_cart_paid_in_one_transaction_shows_its_fee_once_and_both_totals():
    result = CartOutcome("paid", [_item(1, 10000), _item(2, 10000), _item(3, 10000)])
    assert transaction_fees(result) == {("Banca Uno", "CP", 120): 3}
    text = _pdf_text(result)
    assert text.count("Fee charged by") == 1
    assert "Fee charged by Banca Uno: € 1,20, once for the payment of 3 notices." in text
    assert "Total paid to the bodies: € 300,00" in text
    assert "Fees: € 1,20" in text
    assert "Total charged, fees included: € 301,20" in text


def test_two_psp_transactions_are_two_fees():
    result = CartOutcome("paid", [_item(1, 5000), _item(2, 5000, psp="Banca Due", fee=150)])
    text = _pdf_text(result)
    assert text.count("Fee charged by") == 2
    assert "Total charged, fees included: € 102,70" in text


def test_the_payment_time_is_italian_time_with_its_zone():
    text = _pdf_text(CartOutcome("paid", [_item(1, 10000)]))
    assert "paid on 2026-07-15 14:05 CEST (Italian time)" in text
    assert "12:05" not in text
