"""The citizen's pages: catalogue, forms from the service definition, lookup, cart, checkout,
return page read from the database, receipt, languages, CSRF, cookies, rate limit."""

from __future__ import annotations

import re

import sqlalchemy as sa
from pypdf import PdfReader

from hub import payments
from hub.models import DebtPosition, PaymentOption, Receipt
from tests.factories import make_receipt
from tests.web.checkout.conftest import OSAP, SANP_NOTICE


def test_catalogue_lists_enti_and_their_payment_types(shop):
    home = shop.app.get("/pay/")
    assert "Comune di Demo" in home and "Unione dei Comuni della Bassa" in home
    ente = shop.app.get("/pay/enti/77777777777")
    for label in (
        "Refezione scolastica",
        "Occupazione suolo pubblico",
        "Sanzioni codice della strada",
    ):
        assert label in ente
    assert "Tassa rifiuti" not in ente


def test_spontaneous_form_is_built_from_the_service_definition(shop):
    page = shop.app.get(OSAP)
    form = page.forms[0]
    assert {
        "address",
        "amount",
        "payer_fiscal_code",
        "payer_name",
        "payer_email",
        "csrf_token",
    } <= set(form.fields)
    assert page.html.find("label", attrs={"for": "address"}) is not None
    assert page.html.find("input", id="address").has_attr("required")


def test_invalid_fields_are_named_and_nothing_is_added(shop):
    answer = shop.spontaneous(amount="12,505", address="", payer_fiscal_code="RSSMRA80A01H501X")
    assert answer.status_int == 422
    assert answer.html.find("input", id="address")["aria-invalid"] == "true"
    assert answer.html.find(id="amount-error") is not None
    assert answer.html.find(id="payer_fiscal_code-error") is not None
    assert "0</span>" in answer.text  # the cart badge


def test_control_characters_are_a_form_message_not_an_error(shop):
    answer = shop.spontaneous(
        address="Via\x00Roma 1", payer_name="Mario\x00 Rossi", payer_email="a\x07@b.it"
    )
    assert answer.status_int == 422
    for field in ("address", "payer_name", "payer_email"):
        assert answer.html.find("input", id=field)["aria-invalid"] == "true"
        assert "not allowed" in answer.html.find(id=f"{field}-error").text
    assert "0</span>" in answer.text  # nothing reached the cart
    assert shop.lookup(notice="3111111111\x0022222").status_int in (400, 422)


def test_lookup_finds_a_payable_notice_and_refuses_others(shop):
    assert shop.lookup().status_int == 303
    with shop.factory() as session:
        paid = session.scalars(
            sa.select(PaymentOption).where(PaymentOption.status == "paid")
        ).first()
        cancelled = session.scalars(
            sa.select(PaymentOption).where(PaymentOption.status == "cancelled")
        ).first()
    assert "already been paid" in shop.lookup(paid.notice_number)
    assert "cancelled" in shop.lookup(cancelled.notice_number)
    assert "no payable notice" in shop.lookup("301999999999999999")
    assert "18 digits" in shop.lookup("12345")
    assert "already in your cart" in shop.lookup()


def test_cart_totals_and_remove(shop):
    shop.spontaneous()
    shop.lookup()
    cart = shop.app.get("/pay/cart")
    assert "42.50" in cart.text
    remove = cart.forms[0]
    remove.submit().follow()
    assert "30.00" in shop.app.get("/pay/cart").text
    assert "12.50" not in shop.app.get("/pay/cart").text


def test_checkout_creates_the_spontaneous_position_and_opens_a_cart(shop):
    shop.spontaneous()
    shop.lookup()
    answer = shop.pay()
    assert answer.status_int == 303
    [sent] = shop.checkout.carts
    assert answer.location == f"https://checkout.example/c/{sent.id_cart}"
    assert [n.amount_cents for n in sent.notices] == [1250, 3000]
    assert sent.return_ok.endswith(f"/pay/carts/{sent.id_cart}/return/ok")
    with shop.factory() as session:
        position = session.scalars(
            sa.select(DebtPosition).where(DebtPosition.iupd.like("CHK-%"))
        ).one()
        assert position.debtor_fiscal_code == "RSSMRA80A01H501U"
        assert position.options[0].status == "payable"
        assert position.options[0].notice_number == sent.notices[0].notice_number
    assert "empty" in shop.app.get("/pay/cart")


def test_more_than_five_notices_leave_the_rest_for_a_second_cart(shop):
    for _ in range(7):
        shop.spontaneous()
    cart = shop.app.get("/pay/cart")
    assert "at most 5 payments at a time" in cart
    shop.pay()
    assert len(shop.checkout.carts[0].notices) == 5
    left = shop.app.get("/pay/cart")
    assert left.text.count("Occupazione suolo pubblico</td>") == 2


def test_checkout_unavailable_rolls_everything_back(shop):
    shop.spontaneous()
    shop.checkout.fail = True
    answer = shop.pay()
    assert answer.status_int == 502 and "nothing was charged" in answer
    with shop.factory() as session:
        assert (
            session.scalar(
                sa.select(sa.func.count())
                .select_from(DebtPosition)
                .where(DebtPosition.iupd.like("CHK-%"))
            )
            == 0
        )
    shop.checkout.fail = False
    assert shop.pay().status_int == 303


def test_return_page_reads_the_database_not_the_url(shop):
    shop.lookup()
    shop.pay()
    cart_id = shop.checkout.carts[0].id_cart
    back = shop.app.get(f"/pay/carts/{cart_id}/return/ok").follow()
    assert "Payment in progress" in back
    # polled by refresh.js (no meta refresh reloading the page under the reader, WCAG 2.2.1);
    # a meta refresh only for browsers without JavaScript
    assert back.html.find(attrs={"data-refresh-url": True}) is not None
    assert back.html.find("script", src=lambda s: s and s.endswith("refresh.js")) is not None
    assert back.html.find("noscript").find("meta", attrs={"http-equiv": "refresh"}) is not None
    with shop.factory.begin() as session:
        option = session.scalars(
            sa.select(PaymentOption).where(PaymentOption.notice_number == SANP_NOTICE)
        ).one()
        ente = option.position.ente_id
        from hub.models import Ente

        ec = session.get(Ente, ente)
        payments.activate(
            session, ec, SANP_NOTICE, requested_cents=3000, primitive="paGetPaymentV2"
        )
        payments.store_receipt(
            session, make_receipt(option, ec.fiscal_code, receipt_id="rcpt-checkout-1")
        )
    done = shop.app.get(f"/pay/carts/{cart_id}")
    assert "Payment completed" in done
    assert done.html.find("meta", attrs={"http-equiv": "refresh"}) is None
    assert done.html.find(attrs={"data-refresh-url": True}) is None
    pdf = shop.app.get(f"/pay/carts/{cart_id}/receipt.pdf")
    assert pdf.content_type == "application/pdf"
    text = PdfReader(__import__("io").BytesIO(pdf.body)).pages[0].extract_text()
    assert "rcpt-checkout-1" in text and SANP_NOTICE in text


def test_a_cancelled_return_with_nothing_activated_is_not_paid(shop):
    shop.lookup()
    shop.pay()
    cart_id = shop.checkout.carts[0].id_cart
    page = shop.app.get(f"/pay/carts/{cart_id}/return/cancel")
    assert "not completed" in page
    shop.app.get(f"/pay/carts/{cart_id}/receipt.pdf", status=404)
    # an "ok" return never says paid without a receipt
    with shop.factory() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Receipt)) == 1  # seed's


def test_unknown_cart_is_not_found(shop):
    shop.app.get("/pay/carts/" + "0" * 32, status=404)


def test_every_form_needs_the_csrf_token(shop):
    shop.app.get(OSAP)
    shop.app.post("/pay/enti/77777777777/notice", {"notice_number": SANP_NOTICE}, status=400)
    shop.app.post("/pay/cart/checkout", {}, status=400)
    shop.app.post("/pay/cart/remove", {"item": "1"}, status=400)
    shop.app.post(OSAP, {"amount": "1"}, status=400)


def test_session_cookie_is_secure_httponly_samesite(shop):
    answer = shop.app.get(OSAP)
    cookie = answer.headers["Set-Cookie"]
    assert "payhub_session=" in cookie
    for flag in ("Secure", "HttpOnly", "SameSite=Lax"):
        assert flag.lower() in cookie.lower()


def test_no_personal_data_in_urls_or_logs(shop):
    from structlog.testing import capture_logs

    with capture_logs() as logs:
        answer = shop.spontaneous()
        shop.pay()
    assert "RSSMRA80A01H501U" not in answer.location
    assert "RSSMRA80A01H501U" not in shop.checkout.carts[0].return_ok
    assert "RSSMRA80A01H501U" not in repr(logs) and "Mario Rossi" not in repr(logs)


def test_lookup_is_rate_limited_per_client(shop):
    answers = [shop.lookup("301999999999999999").status_int for _ in range(12)]
    assert answers[:10] == [422] * 10
    assert answers[10:] == [429, 429]


def test_italian_by_default_english_on_request(shop):
    assert "Paga online" in shop.app.get("/pay/", headers={"Accept-Language": "it"})
    assert "Paga online" in shop.app.get("/pay/?lang=it")
    assert "Paga online" in shop.app.get("/pay/")  # kept in the session
    assert re.search(r'<html lang="it"', shop.app.get("/pay/").text)
    assert "Pay online" in shop.app.get("/pay/?lang=en")


def test_the_language_switch_on_a_page_answering_a_form_leads_to_that_form_in_the_language(shop):
    shop.app.get("/pay/?lang=it")
    answer = shop.lookup(notice="123")  # a form answered on the POST-only path
    assert answer.status_int == 422
    assert 'href="/pay/enti/77777777777/notice?lang=de"' in answer.text
    moved = shop.app.get("/pay/enti/77777777777/notice?lang=de", status=303)
    assert moved.location.endswith("/pay/enti/77777777777?lang=de")
    assert '<html lang="de"' in moved.follow().text
    assert shop.app.get("/pay/cart/checkout?lang=en", status=303).location.endswith(
        "/pay/cart?lang=en"
    )
    assert shop.app.get("/pay/cart/remove?lang=xx", status=303).location.endswith("/pay/cart")


def test_italian_error_messages(shop):
    shop.app.get("/pay/?lang=it")
    answer = shop.spontaneous(address="")
    assert "Questo campo è obbligatorio." in answer
    assert "Correggi i campi segnalati" in answer
