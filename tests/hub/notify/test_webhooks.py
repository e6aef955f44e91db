"""hub.notify.webhooks: endpoints, one delivery per endpoint and event, the signature, attempts that
end delivered or dead, and replay."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json

import pytest
import sqlalchemy as sa

from hub import payments
from hub.db import utcnow
from hub.errors import Conflict
from hub.models import OutboxMessage, WebhookDelivery
from hub.notify import webhooks
from tests.factories import make_ente, make_position

pytestmark = pytest.mark.pg
URL = "https://backoffice.example.it/hook"


def _messages(db) -> list[dict]:
    return list(
        db.scalars(
            sa.select(OutboxMessage.args).where(OutboxMessage.actor_name == webhooks.DELIVER_ACTOR)
        )
    )


def _pay(db, option) -> None:
    payments.apply_event(
        db, payments.lock_option_by_id(db, option.id), "receive_receipt", cause="test"
    )
    option.paid_cents = option.amount_cents


def test_registering_gives_a_key_id_and_a_secret_for_all_events_by_default(db):
    ente = make_ente(db)
    registered = webhooks.register_endpoint(db, ente, URL)
    assert registered.secret.startswith("whsec_") and len(registered.secret) > 40
    assert registered.endpoint.key_id.startswith("whk_")
    assert set(registered.endpoint.events) == set(webhooks.ALL_EVENT_TYPES)
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
    payments.apply_event(db, payments.lock_option_by_id(db, option.id), "activate", cause="test")
    assert webhooks.notify_transition(db, option.id, "activate", "payable", "in_progress") == 0
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
    expected = hmac.new(
        delivery.endpoint.secret.encode(), f"{t}.".encode() + request.body, hashlib.sha256
    ).hexdigest()
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
    assert (
        webhooks.record_attempt(db, delivery.id, _result(500), max_attempts=2).status == "retrying"
    )
    webhooks.claim(db, delivery.id, lease=lease)
    dead = webhooks.record_attempt(
        db, delivery.id, _result(None, "ReadTimeout: slow"), max_attempts=2
    )
    assert (dead.status, dead.attempts, dead.last_error) == ("dead", 2, "ReadTimeout: slow")
    assert webhooks.claim(db, delivery.id, lease=lease) is None
    assert webhooks.dead_letters(db, delivery.ente_id) == [dead]
    assert [a.status_code for a in dead.attempt_log] == [500, None]

    webhooks.replay(db, dead)
    assert (dead.status, dead.attempts, dead.replays) == ("pending", 0, 1)
    assert len(_messages(db)) == 2
    webhooks.claim(db, delivery.id, lease=lease)
    with pytest.raises(Conflict, match="being sent"):
        webhooks.replay(db, dead)
    done = webhooks.record_attempt(db, delivery.id, _result(204), max_attempts=2)
    assert (done.status, done.last_error, done.delivered_at is not None) == (
        "delivered",
        None,
        True,
    )
    with pytest.raises(Conflict, match="was delivered"):
        webhooks.replay(db, dead)


def test_a_retry_is_due_at_the_time_in_its_row_and_an_early_copy_sends_nothing(db):
    delivery = _delivery(db)
    lease, now = dt.timedelta(seconds=30), utcnow()
    webhooks.claim(db, delivery.id, lease=lease, now=now)
    webhooks.record_attempt(
        db,
        delivery.id,
        _result(503),
        max_attempts=5,
        backoff=lambda attempts: dt.timedelta(minutes=attempts),
    )
    due = delivery.next_attempt_at
    assert delivery.status == "retrying" and due > now + dt.timedelta(seconds=50)
    assert webhooks.claim(db, delivery.id, lease=lease) is None  # not due yet
    assert webhooks.take_due(db, lease=lease) == []
    later = due + dt.timedelta(seconds=1)
    assert webhooks.take_due(db, lease=lease, now=later) == [delivery.id]
    assert webhooks.take_due(db, lease=lease, now=later) == []  # postponed by the lease
    assert webhooks.take_due(db, lease=lease, now=later + lease) == [delivery.id]
    assert isinstance(
        webhooks.claim(db, delivery.id, lease=lease, now=later), webhooks.SignedRequest
    )


def test_a_lease_that_expires_in_sending_counts_an_attempt_of_unknown_outcome(db):
    delivery = _delivery(db)
    lease, now = dt.timedelta(seconds=30), utcnow()
    webhooks.claim(db, delivery.id, lease=lease, now=now)  # then the sender dies
    later = now + lease + dt.timedelta(seconds=1)
    assert webhooks.take_due(db, lease=lease, now=later) == [delivery.id]
    assert webhooks.undelivered(db, delivery.ente_id) == [delivery]
    again = webhooks.claim(db, delivery.id, lease=lease, max_attempts=3, now=later)
    assert isinstance(again, webhooks.SignedRequest)
    assert (delivery.status, delivery.attempts, delivery.expired_claims) == ("sending", 1, 1)
    assert "outcome unknown" in delivery.attempt_log[0].error
    # a second expiry, and the cap: dead rather than posting for ever
    webhooks.claim(db, delivery.id, lease=lease, max_attempts=2, now=later + lease * 2)
    assert (delivery.status, delivery.expired_claims) == ("dead", 2)


def test_support_lists_every_delivery_not_delivered_and_replays_any_of_them(db):
    first = _delivery(db)
    second = webhooks.notify(db, first.endpoint, "evt-2", "payment.paid", {"id": "evt-2"})
    webhooks.claim(db, first.id, lease=dt.timedelta(seconds=30))
    webhooks.record_attempt(db, first.id, _result(200), max_attempts=3)
    assert webhooks.undelivered(db, None) == [second]
    assert webhooks.undelivered(db, second.ente_id, statuses=("dead",)) == []
    webhooks.replay(db, second)  # pending, not dead: replayable all the same
    assert (second.status, second.replays) == ("pending", 1)


def test_a_deleted_endpoint_gets_nothing_more(db):
    delivery = _delivery(db)
    webhooks.delete_endpoint(db, delivery.endpoint)
    assert webhooks.claim(db, delivery.id, lease=dt.timedelta(seconds=30)) is None
    assert (delivery.status, delivery.last_error) == ("dead", "endpoint deleted")
    assert webhooks.dead_letters(db, delivery.ente_id) == []
