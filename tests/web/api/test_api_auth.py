"""API keys: missing, wrong or revoked keys get 401; another Ente's data is a plain 404."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hub.models import AuditEvent
from hub.tenants import api_keys
from tests.web.api.conftest import position_body

pytestmark = pytest.mark.pg


def test_a_request_without_a_key_is_401_problem(world):
    response = world.app.get(world.url(), status=401)
    assert response.content_type == "application/problem+json"
    assert response.json["status"] == 401 and response.json["code"] == "unauthenticated"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_wrong_or_revoked_key_is_401(world):
    world.app.get(world.url(), headers=world.auth(world.key[:-2] + "xx"), status=401)
    world.app.get(world.url(), headers={"Authorization": "Bearer nonsense"}, status=401)
    with world.factory.begin() as session:
        api_keys.revoke_key(session, world.key[:11])
    assert (
        world.app.get(world.url(), headers=world.auth(), status=401).json["code"]
        == "invalid_api_key"
    )


def test_the_key_is_accepted_in_x_api_key_too(world):
    assert world.app.get(world.url(), headers={"X-Api-Key": world.key}).json["items"] == []


def test_only_the_hash_and_the_prefix_are_stored(world):
    with world.factory() as session:
        keys = api_keys.list_keys(session)
        assert all(k.prefix.startswith("ph_") and len(k.key_hash) == 64 for k in keys)
        assert world.key not in {k.key_hash for k in keys}


def test_another_entes_position_is_404_like_a_missing_one(world):
    world.app.post_json(world.url(), position_body("SECRET-1"), headers=world.auth())
    theirs = world.app.get(world.url("/SECRET-1"), headers=world.auth(world.other_key), status=404)
    # B asking for A's Ente path: same answer as an Ente that does not exist at all
    via_path = world.app.get(
        world.url("/SECRET-1"), headers=world.auth(world.other_key), status=404
    )
    nowhere = world.app.get(
        world.url("/SECRET-1", ente="12345678901"), headers=world.auth(world.other_key), status=404
    )
    assert theirs.json["detail"] == via_path.json["detail"] == nowhere.json["detail"]
    world.app.post_json(
        world.url("/SECRET-1/cancel"), {}, headers=world.auth(world.other_key), status=404
    )


def test_an_intermediary_key_reaches_each_of_its_enti(world):
    world.app.post_json(world.url(), position_body("A-1"), headers=world.auth(world.broker_key))
    world.app.post_json(
        world.url(ente=world.other), position_body("B-1"), headers=world.auth(world.broker_key)
    )
    assert (
        world.app.get(
            world.url("/B-1", ente=world.other), headers=world.auth(world.broker_key)
        ).json["iupd"]
        == "B-1"
    )
    world.app.get(world.url("/B-1", ente=world.other), headers=world.auth(), status=404)


def test_every_write_is_audited_with_who_what_when(world):
    world.app.post_json(world.url(), position_body(), headers=world.auth())
    world.app.post_json(world.url("/IUPD-1/publish"), {}, headers=world.auth())
    with world.factory() as session:
        events = session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [e.action for e in events] == ["debt_position.create", "debt_position.publish"]
    assert all(e.actor == f"api_key:{world.key[:11]}" and e.created_at for e in events)
    assert events[0].target == "debt_position:IUPD-1"


def test_a_refused_write_leaves_no_audit_row(world):
    world.app.post_json(
        world.url(), position_body(description=""), headers=world.auth(), status=422
    )
    with world.factory() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 0
