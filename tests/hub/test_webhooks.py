"""hub.webhooks: endpoints, one delivery per endpoint and event, the signature, attempts that
end delivered or dead, and replay."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json

import pytest
import sqlalchemy as sa

from hub import payments, webhooks
from hub.db import utcnow
from hub.errors import Conflict
from hub.models import OutboxMessage, WebhookDelivery
from tests.factories import make_ente, make_position

pytestmark = pytest.mark.pg
URL = "https://backoffice.example.it/hook"


def _messages(db) -> list[dict]:
    return list(db.scalars(sa.select(OutboxMessage.args).where(
        OutboxMessage.actor_name == webhooks.DELIVER_ACTOR)))


def _pay(db, option) -> None:
    payments.apply_event(db, payments.lock_option_by_id(db, option.id), "receive_receipt",
                         cause="test")
    option.paid_cents = option.amount_cents


def test_registering_gives_a_key_id_and_a_secret_for_all_events_by_default(db):
    ente = make_ente(db)
    registered = webhooks.register_endpoint(db, ente, URL)
    assert registered.secret.startswith("whsec_") and len(registered.secret) > 40
    assert registered.endpoint.key_id.startswith("whk_")
    assert set(registered.endpoint.events) == set(webhooks.EVENT_TYPES.values())
    with pytest.raises(Conflict):
        webhooks.register_endpoint(db, ente, URL, events=["payment.lost"])


def test_a_transition_gives_one_delivery_per_subscribed_endpoint_of_its_ente_once(db):
    ente, other = make_ente(db), make_ente(db, segregation_code="02")
    everything = webhooks.register_endpoint(db, ente, URL).endpoint
    webhooks.register_endpoint(db, ente, URL, events=["payment.cancelled"])
    webhooks.register_endpoint(db, other, URL)
    gone = webhooks.register_endpoint(db, ente, URL).endpoint
    webhooks.delete_endpoint(db, gone)
    option = make_position(db, ente).options[0]
    _pay(db, option)
    db.flush()

    args = (option.id, "receive_receipt", "payable", "paid")
    assert webhooks.notify_transition(db, *args) == 1
    assert webhooks.notify_transition(db, *args) == 0  # the same transition again
    [delivery] = db.scalars(sa.select(WebhookDelivery)).all()
    assert delivery.endpoint_id == everything.id and delivery.status == "pending"
    assert _messages(db) == [{"delivery_id": delivery.id}]
    payload = delivery.payload
    assert payload["type"] == "payment.paid" and payload["amount"] == "30.00"
    assert payload["paidAmount"] == "30.00" and payload["noticeNumber"] == option.notice_number
    assert payload["occurredAt"].endswith("Z") and payload["id"] == delivery.event_id
    assert "RSSMRA80A01H501U" not in json.dumps(payload)


def test_states_enti_are_not_told_about_give_nothing(db):
    ente = make_ente(db)
    webhooks.register_endpoint(db, ente, URL)
    option = make_position(db, ente).options[0]
    payments.apply_event(db, payments.lock_option_by_id(db, option.id), "activate",
                         cause="test")
    assert webhooks.notify_transition(db, option.id, "activate", "payable",
                                      "in_progress") == 0
    assert webhooks.notify_transition(db, option.id, "receive_receipt", "paid", "paid") == 0


def _delivery(db) -> WebhookDelivery:
    ente = make_ente(db)
    endpoint = webhooks.register_endpoint(db, ente, URL).endpoint
    return webhooks.notify(db, endpoint, "evt-1", "payment.paid", {"id": "evt-1", "n": "30.00"})


def test_the_request_is_signed_over_timestamp_and_body(db):
    delivery = _delivery(db)
    now = dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC)
    request = webhooks.signed_request(delivery, delivery.endpoint, now)
    t = int(now.timestamp())
    expected = hmac.new(delivery.endpoint.secret.encode(), f"{t}.".encode() + request.body,
                        hashlib.sha256).hexdigest()
    assert request.headers["X-Payhub-Signature"] == f"t={t},v1={expected}"
    assert request.headers["X-Payhub-Key-Id"] == delivery.endpoint.key_id
    assert json.loads(request.body) == delivery.payload and request.url == URL


def _result(status: int | None, error: str | None = None) -> webhooks.AttemptResult:
    return webhooks.AttemptResult(utcnow(), 12, status, error)


def test_attempts_retry_then_die_and_replay_starts_a_new_round(db):
    delivery = _delivery(db)
    lease = dt.timedelta(seconds=30)
    assert isinstance(webhooks.claim(db, delivery.id, lease=lease), webhooks.SignedRequest)
    assert webhooks.claim(db, delivery.id, lease=lease) <= lease  # held by that run
    assert webhooks.record_attempt(db, delivery.id, _result(500), max_attempts=2
                                   ).status == "retrying"
    webhooks.claim(db, delivery.id, lease=lease)
    dead = webhooks.record_attempt(db, delivery.id, _result(None, "ReadTimeout: slow"),
                                   max_attempts=2)
    assert (dead.status, dead.attempts, dead.last_error) == ("dead", 2, "ReadTimeout: slow")
    assert webhooks.claim(db, delivery.id, lease=lease) is None
    assert webhooks.dead_letters(db, delivery.ente_id) == [dead]
    assert [a.status_code for a in dead.attempt_log] == [500, None]

    webhooks.replay(db, dead)
    assert (dead.status, dead.attempts, dead.replays) == ("pending", 0, 1)
    assert len(_messages(db)) == 2
    with pytest.raises(Conflict):
        webhooks.replay(db, dead)
    webhooks.claim(db, delivery.id, lease=lease)
    done = webhooks.record_attempt(db, delivery.id, _result(204), max_attempts=2)
    assert (done.status, done.last_error, done.delivered_at is not None) == (
        "delivered", None, True)


def test_a_deleted_endpoint_gets_nothing_more(db):
    delivery = _delivery(db)
    webhooks.delete_endpoint(db, delivery.endpoint)
    assert webhooks.claim(db, delivery.id, lease=dt.timedelta(seconds=30)) is None
    assert (delivery.status, delivery.last_error) == ("dead", "endpoint deleted")
    assert webhooks.dead_letters(db, delivery.ente_id) == []
