"""Level 1: signed start-payment requests, the browser's round trip, the outcome token, the
query by id and the one notification through hub.notify.webhooks."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from hub import payments
from hub.checkout import level1
from hub.models import Ente, PaymentOption, WebhookDelivery
from tests.factories import make_receipt

PATH = "/level1/v1/payments"
ITEM = {
    "enteFiscalCode": "00112233445",
    "service": "GENER",
    "amount": "16.00",
    "payer": {"fiscalCode": "RSSMRA80A01H501U", "name": "Mario Rossi"},
}


@pytest.fixture
def portal(shop):
    with shop.factory.begin() as session:
        done = level1.register_portal(
            session,
            "Portale",
            ["00112233445"],
            "https://portale.example/",
            notify_url="https://portale.example/notify",
        )
        return done.portal.key_id, done.secret


def signed_post(shop, portal, body, *, path=PATH, status="*", now=None, headers=None, tamper=None):
    raw = json.dumps(body).encode()
    h = headers or level1.signed_headers(*portal, "POST", path, raw, now=now)
    if tamper:
        raw = tamper(raw)
    return shop.app.post(
        path, raw, headers={**h, "Content-Type": "application/json"}, status=status
    )


def start(shop, portal, **extra):
    body = {
        "externalId": "pratica-1",
        "returnUrl": "https://portale.example/back?x=1",
        "items": [ITEM],
        **extra,
    }
    return signed_post(shop, portal, body)


def test_a_signed_request_gets_a_payment_url(shop, portal):
    answer = start(shop, portal)
    assert answer.status_int == 201
    assert answer.json["paymentUrl"] == f"https://payhub.test/pay/l1/{answer.json['paymentId']}"
    again = start(shop, portal)  # same externalId: the same payment, not a second one
    assert (again.status_int, again.json["paymentId"]) == (200, answer.json["paymentId"])


def test_a_tampered_body_is_refused(shop, portal):
    answer = signed_post(
        shop,
        portal,
        {"externalId": "x", "items": [ITEM], "returnUrl": "https://portale.example/"},
        tamper=lambda raw: raw.replace(b"16.00", b"0.01"),
    )
    assert (answer.status_int, answer.json["title"]) == (401, "bad_signature")


def test_a_timestamp_older_than_five_minutes_is_refused(shop, portal):
    old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5, seconds=30)
    answer = signed_post(shop, portal, {"externalId": "x"}, now=old)
    assert (answer.status_int, answer.json["title"]) == (401, "stale_timestamp")


def test_a_replayed_nonce_is_refused(shop, portal):
    body = {"externalId": "pratica-9", "returnUrl": "https://portale.example/", "items": [ITEM]}
    raw = json.dumps(body).encode()
    headers = level1.signed_headers(*portal, "POST", PATH, raw)
    assert signed_post(shop, portal, body, headers=headers).status_int == 201
    replay = signed_post(shop, portal, body, headers=headers)
    assert (replay.status_int, replay.json["title"]) == (401, "replayed_nonce")


def test_unknown_key_and_missing_headers_are_refused(shop, portal):
    answer = signed_post(shop, ("l1_nobody", "x"), {"externalId": "x"})
    assert answer.json["title"] == "unknown_key"
    assert shop.app.post(PATH, b"{}", status=401).json["title"] == "missing_signature"


def test_return_url_must_belong_to_the_portal_and_enti_to_its_list(shop, portal):
    answer = start(shop, portal, returnUrl="https://evil.example/")
    assert (answer.status_int, "returnUrl" in answer.json["detail"]) == (422, True)
    answer = start(shop, portal, items=[{**ITEM, "enteFiscalCode": "77777777777"}])
    assert "enteFiscalCode" in answer.json["detail"]


def _pay(shop, notice_numbers):
    with shop.factory.begin() as session:
        for notice in notice_numbers:
            option = session.scalars(
                sa.select(PaymentOption).where(PaymentOption.notice_number == notice)
            ).one()
            ec = session.get(Ente, option.ente_id)
            payments.activate(
                session, ec, notice, requested_cents=option.amount_cents, primitive="paGetPaymentV2"
            )
            payments.store_receipt(
                session, make_receipt(option, ec.fiscal_code, receipt_id=f"r-{notice}")
            )


def test_the_browser_round_trip_ends_at_the_portal_with_a_signed_outcome(shop, portal):
    started = start(shop, portal).json
    confirm = shop.app.get(urlsplit(started["paymentUrl"]).path)
    assert "16.00" in confirm and "Portale" in confirm
    to_checkout = confirm.forms[0].submit()
    [sent] = shop.checkout.carts
    assert to_checkout.location.endswith(sent.id_cart)
    _pay(shop, [n.notice_number for n in sent.notices])

    back = shop.app.get(urlsplit(sent.return_ok).path)
    assert back.location.startswith("https://portale.example/back?x=1&outcome=")
    token = parse_qs(urlsplit(back.location).query)["outcome"][0]
    outcome = level1.read_outcome_token(portal[1], token)
    assert outcome == {
        **outcome,
        "paymentId": started["paymentId"],
        "externalId": "pratica-1",
        "status": "paid",
    }
    with pytest.raises(level1.Level1AuthError):
        level1.read_outcome_token("another secret", token)
    with pytest.raises(level1.Level1AuthError):
        level1.read_outcome_token(
            portal[1], token, now=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=16)
        )

    path = f"{PATH}/{started['paymentId']}"
    status = shop.app.get(path, headers=level1.signed_headers(*portal, "GET", path, b"")).json
    assert status["status"] == "paid" and status["items"][0]["paid"] is True
    assert "RSSMRA80A01H501U" not in json.dumps(status)
    shop.app.get(urlsplit(sent.return_ok).path)  # the browser comes back twice
    with shop.factory() as session:
        [delivery] = session.scalars(sa.select(WebhookDelivery)).all()
        assert delivery.event_id == f"level1:{started['paymentId']}"
        assert delivery.payload["status"] == "paid"


def test_direct_mode_goes_straight_to_checkout(shop, portal):
    started = start(shop, portal, mode="direct").json
    answer = shop.app.get(urlsplit(started["paymentUrl"]).path)
    assert answer.status_int == 303 and answer.location.startswith("https://checkout.example/")
    # the same URL later shows the outcome page, never a second Checkout cart
    assert shop.app.get(urlsplit(started["paymentUrl"]).path).status_int == 303
    assert len(shop.checkout.carts) == 1


def test_notify_for_option_writes_the_notification_when_the_receipt_arrives(shop, portal):
    started = start(shop, portal, mode="direct").json
    shop.app.get(urlsplit(started["paymentUrl"]).path)
    [sent] = shop.checkout.carts
    _pay(shop, [n.notice_number for n in sent.notices])
    with shop.factory.begin() as session:
        option_id = session.scalar(
            sa.select(PaymentOption.id).where(
                PaymentOption.notice_number == sent.notices[0].notice_number
            )
        )
        assert level1.notify_for_option(session, option_id) == 1
    with shop.factory.begin() as session:
        assert level1.notify_for_option(session, option_id) == 0
        assert session.scalar(sa.select(sa.func.count()).select_from(WebhookDelivery)) == 1


def test_a_refused_request_leaves_no_half_built_cart(shop, portal):
    bad = start(
        shop,
        portal,
        externalId="pratica-x",
        items=[ITEM, {**ITEM, "enteFiscalCode": "77777777777"}],
    )
    assert bad.status_int == 422
    good = start(shop, portal, externalId="pratica-x")
    assert good.status_int == 201  # not the half-built cart of the refused request
    with shop.factory() as session:
        from hub.models import CheckoutCart

        [cart] = session.scalars(
            sa.select(CheckoutCart).where(CheckoutCart.external_id == "pratica-x")
        ).all()
        assert len(cart.items) == 1


def test_a_nul_character_is_refused_naming_the_field(shop, portal):
    answer = start(shop, portal, externalId="pratica\u0000-1")
    assert answer.status_int == 422 and answer.json["detail"].startswith("externalId:")
    answer = start(shop, portal, items=[{**ITEM, "description": "a\u0000"}])
    assert answer.status_int == 422 and answer.json["detail"].startswith("items[0].description")
