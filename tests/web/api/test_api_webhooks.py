"""Webhook endpoints and dead letters over the API: register (secret once), list, delete, list
and replay dead letters; keys see only their own Enti; writes are audited."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from hub.models import AuditEvent, Ente, OutboxMessage, WebhookDelivery, WebhookEndpoint
from hub.notify import webhooks

pytestmark = pytest.mark.pg
URL = "https://backoffice.example.it/payhub/events"


def _hooks(world, tail: str = "", ente: str | None = None) -> str:
    return f"/api/v1/enti/{ente or world.ente}/webhooks{tail}"


def _dead(world, tail: str = "", ente: str | None = None) -> str:
    return f"/api/v1/enti/{ente or world.ente}/webhook-dead-letters{tail}"


def _register(world, body=None, **kw):
    body = {"url": URL} if body is None else body
    return world.app.post_json(_hooks(world), body, headers=world.auth(), **kw)


def test_register_returns_the_secret_once_and_list_never_shows_it(world):
    response = _register(
        world, {"url": URL, "events": ["payment.paid"], "description": "gestionale"}, status=201
    )
    body = response.json
    assert body["secret"].startswith("whsec_") and body["keyId"].startswith("whk_")
    assert body["events"] == ["payment.paid"] and body["url"] == URL
    assert response.headers["Location"].endswith(f"/webhooks/{body['id']}")

    [listed] = world.app.get(_hooks(world), headers=world.auth()).json["items"]
    assert listed == {k: v for k, v in body.items() if k != "secret"}
    with world.factory() as session:
        stored = session.scalar(sa.select(WebhookEndpoint))
        audit = session.scalar(sa.select(AuditEvent.action))
    assert stored.secret == body["secret"] and audit == "webhook.create"
    all_events = _register(world).json["events"]
    assert set(all_events) == set(webhooks.ALL_EVENT_TYPES)  # payments and refund cases


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"url": "http://backoffice.example.it/x"}, "url", 422),
        ({"url": "ftp://backoffice.example.it/x"}, "url", 422),
        ({"url": "https://user:pw@backoffice.example.it/x"}, "url", 422),
        ({"url": URL, "events": ["payment.lost"]}, "events[0]", 422),
        ({"url": URL, "extra": 1}, "extra", 422),
        ({}, "url", 422),
    ],
)
def test_bad_registrations_name_the_field(world, body, field, status):
    problem = _register(world, body, status=status).json
    assert problem["field"] == field


def test_keys_see_only_their_own_entis_endpoints(world):
    created = _register(world).json
    assert (
        world.app.get(_hooks(world), headers=world.auth(world.other_key), status=404).json["code"]
        == "not_found"
    )
    assert (
        world.app.get(_hooks(world, ente=world.other), headers=world.auth(world.other_key)).json[
            "items"
        ]
        == []
    )
    world.app.delete(
        _hooks(world, f"/{created['id']}", ente=world.other),
        headers=world.auth(world.other_key),
        status=404,
    )
    assert world.app.get(_hooks(world), headers=world.auth(world.broker_key)).json["items"]
    world.app.get(_hooks(world), status=401)
    world.app.get(_hooks(world), headers=world.auth("ph_00000000_nope"), status=401)


def test_delete_stops_the_endpoint(world):
    created = _register(world).json
    world.app.delete(_hooks(world, f"/{created['id']}"), headers=world.auth(), status=204)
    assert world.app.get(_hooks(world), headers=world.auth()).json["items"] == []
    world.app.delete(_hooks(world, f"/{created['id']}"), headers=world.auth(), status=404)


def _dead_letter(world, fiscal_code: str, endpoint_public_id: str) -> str:
    with world.factory.begin() as session:
        endpoint = session.scalar(
            sa.select(WebhookEndpoint).where(WebhookEndpoint.public_id == endpoint_public_id)
        )
        delivery = webhooks.notify(
            session, endpoint, str(uuid.uuid4()), "payment.paid", {"type": "payment.paid"}
        )
        delivery.status, delivery.attempts, delivery.last_status_code = "dead", 3, 500
        delivery.last_error = "HTTP 500"
        return delivery.public_id


def test_dead_letters_are_listed_page_by_page_and_replayed(world):
    endpoint = _register(world).json["id"]
    ids = [_dead_letter(world, world.ente, endpoint) for _ in range(3)]
    page = world.app.get(_dead(world, "?limit=2"), headers=world.auth()).json
    assert [d["id"] for d in page["items"]] == ids[::-1][:2]
    assert page["items"][0] | {"createdAt": None, "eventId": None, "nextAttemptAt": None} == {
        "id": ids[2],
        "webhookId": endpoint,
        "eventId": None,
        "eventType": "payment.paid",
        "status": "dead",
        "attempts": 3,
        "replays": 0,
        "lastStatusCode": 500,
        "lastError": "HTTP 500",
        "createdAt": None,
        "payload": {"type": "payment.paid"},
        "expiredClaims": 0,
        "nextAttemptAt": None,
    }
    rest = world.app.get(
        _dead(world, f"?limit=2&cursor={page['nextCursor']}"), headers=world.auth()
    ).json
    assert [d["id"] for d in rest["items"]] == [ids[0]] and rest["nextCursor"] is None

    replayed = world.app.post(
        _dead(world, f"/{ids[0]}/replay"), headers=world.auth(), status=202
    ).json
    assert replayed["status"] == "pending" and replayed["replays"] == 1
    assert replayed["attempts"] == 0
    with world.factory() as session:
        delivery = session.scalar(
            sa.select(WebhookDelivery).where(WebhookDelivery.public_id == ids[0])
        )
        sent = session.scalars(
            sa.select(OutboxMessage.args).where(OutboxMessage.actor_name == "deliver_webhook")
        ).all()
    assert delivery.status == "pending" and sent.count({"delivery_id": delivery.id}) == 2
    assert len(world.app.get(_dead(world), headers=world.auth()).json["items"]) == 2


def test_every_delivery_not_delivered_is_listed_with_its_due_time_and_replayable(world):
    endpoint = _register(world).json["id"]
    dead = _dead_letter(world, world.ente, endpoint)
    with world.factory.begin() as session:
        delivery = session.scalar(
            sa.select(WebhookDelivery).where(WebhookDelivery.public_id == dead)
        )
        retrying = webhooks.notify(
            session, delivery.endpoint, str(uuid.uuid4()), "payment.paid", {"type": "payment.paid"}
        )
        retrying.status, retrying.attempts = "retrying", 2
        done = webhooks.notify(
            session, delivery.endpoint, str(uuid.uuid4()), "payment.paid", {"type": "payment.paid"}
        )
        done.status, retrying_id, done_id = "delivered", retrying.public_id, done.public_id
    url = f"/api/v1/enti/{world.ente}/webhook-deliveries"
    items = world.app.get(url, headers=world.auth()).json["items"]
    assert [(d["id"], d["status"]) for d in items] == [(retrying_id, "retrying"), (dead, "dead")]
    assert items[0]["nextAttemptAt"] is not None
    only = world.app.get(url + "?status=retrying", headers=world.auth()).json["items"]
    assert [d["id"] for d in only] == [retrying_id]
    world.app.get(url + "?status=delivered", headers=world.auth(), status=400)
    replayed = world.app.post(f"{url}/{retrying_id}/replay", headers=world.auth(), status=202).json
    assert (replayed["status"], replayed["attempts"], replayed["replays"]) == ("pending", 0, 1)
    world.app.post(f"{url}/{done_id}/replay", headers=world.auth(), status=409)


def test_another_entis_dead_letters_are_invisible(world):
    endpoint = _register(world).json["id"]
    dead = _dead_letter(world, world.ente, endpoint)
    other = world.auth(world.other_key)
    assert world.app.get(_dead(world, ente=world.other), headers=other).json["items"] == []
    world.app.post(_dead(world, f"/{dead}/replay", ente=world.other), headers=other, status=404)
    world.app.post(_dead(world, f"/{dead}/replay"), headers=other, status=404)
    world.app.get(_dead(world, "?limit=0"), headers=world.auth(), status=400)
    world.app.get(_dead(world, "?cursor=abc"), headers=world.auth(), status=400)
    with world.factory() as session:
        assert session.scalar(sa.select(Ente.id).where(Ente.fiscal_code == world.other))


def test_the_openapi_document_lists_the_webhook_operations(world):
    document = world.app.get("/api/v1/openapi.json").json
    ops = {op["operationId"] for path in document["paths"].values() for op in path.values()}
    assert {
        "createWebhook",
        "listWebhooks",
        "deleteWebhook",
        "listWebhookDeadLetters",
        "replayWebhookDeadLetter",
    } <= ops
