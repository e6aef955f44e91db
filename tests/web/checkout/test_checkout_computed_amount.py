"""Amounts computed from the citizen's answers: on the server, in Decimal, rounded to the cent."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
import sqlalchemy as sa

from hub.models import PaymentService
from tests.web.checkout.conftest import OSAP
from web.checkout.forms import Computed, compute_cents, parse_spec, validate

TARIFF = {
    "fields": [
        {"name": "days", "type": "number", "required": True, "min": 1, "max": 365},
        {"name": "square_meters", "type": "number", "required": True, "min": 1},
        {"name": "zone", "type": "select", "required": True, "options": ["A", "B"]},
    ],
    "amount": {
        "computed": {
            "base": "16.00",
            "terms": [{"rate": "0.35", "fields": ["days", "square_meters"]}],
            "choices": {"zone": {"A": "5.00", "B": "0"}},
        },
        "max": "1000.00",
    },
}
PAYER = {"payer_fiscal_code": "RSSMRA80A01H501U", "payer_name": "Mario Rossi"}


def test_the_amount_is_base_plus_rated_products_plus_choices_rounded_half_up():
    computed = parse_spec(TARIFF).amount.computed
    # 16.00 + 0.35 × 3 × 12.5 + 5.00 = 34.125 → 34.13
    assert compute_cents(computed, {"days": "3", "square_meters": "12,5", "zone": "A"}) == 3413
    assert compute_cents(computed, {"days": "3", "square_meters": "12", "zone": "B"}) == 2860


def test_a_missing_or_non_numeric_answer_computes_nothing():
    computed = Computed(base=Decimal("1"), terms=[(Decimal("2"), ["days"])])
    assert compute_cents(computed, {}) is None
    assert compute_cents(computed, {"days": "three"}) is None


def test_the_posted_amount_is_ignored_and_the_range_still_applies():
    spec = parse_spec(TARIFF)
    filled = validate(
        spec, {"days": "2", "square_meters": "10", "zone": "B", "amount": "0.01", **PAYER}
    )
    assert filled.errors == {} and filled.amount_cents == 2300
    too_much = validate(spec, {"days": "365", "square_meters": "100", "zone": "A", **PAYER})
    assert "amount" in too_much.errors and too_much.amount_cents is None


def test_the_form_shows_no_amount_field_and_the_cart_gets_the_computed_amount(shop):
    with shop.factory.begin() as session:
        service = session.scalars(
            sa.select(PaymentService).where(PaymentService.code == "OSAP1")
        ).one()
        service.form = TARIFF
    page = shop.app.get(OSAP)
    form = page.forms[0]
    assert "amount" not in form.fields and page.html.find(id="amount-help") is not None
    for name, value in {"days": "3", "square_meters": "12,5", **PAYER}.items():
        form[name] = value
    form["zone"] = "A"
    answer = form.submit(status="*")
    assert answer.status_int in (302, 303), answer.text[:500]
    cart = shop.app.get("/pay/cart")
    assert re.search(r"34[.,]13", cart.text)


@pytest.mark.parametrize("days", ["", "abc", "0"])
def test_invalid_answers_name_their_field_and_add_nothing(shop, days):
    with shop.factory.begin() as session:
        service = session.scalars(
            sa.select(PaymentService).where(PaymentService.code == "OSAP1")
        ).one()
        service.form = TARIFF
    form = shop.app.get(OSAP).forms[0]
    for name, value in {"days": days, "square_meters": "10", **PAYER}.items():
        form[name] = value
    form["zone"] = "B"
    answer = form.submit(status="*")
    assert answer.status_int == 422
    assert answer.html.find(id="days-error") is not None
    assert "0</span>" in answer.text  # the cart badge
