"""Issue 17 item 11: two creates of one IUPD without an Idempotency-Key, racing. Both pass the
"is this IUPD free?" check before either commits; the database's unique constraint decides, and
the loser must get the same 409 as a late caller, never a 500."""

from __future__ import annotations

import json

import pytest

from hub.models import Ente
from hub.positions.inputs import DebtPositionInput
from hub.positions.writer import create_position
from tests.web.api.conftest import api_app, position_body, world  # noqa: F401 - API fixtures
from web.api import positions

pytestmark = pytest.mark.pg


def test_the_loser_of_a_race_on_one_iupd_gets_409_not_500(world, monkeypatch):  # noqa: F811
    def racing_check(request, ente, iupd):
        # the other request commits its position between our check and our insert
        with world.factory.begin() as session:
            theirs = DebtPositionInput.model_validate_json(json.dumps(position_body(iupd)))
            create_position(session, session.get(Ente, ente.id), theirs)
        return False

    monkeypatch.setattr(positions, "_iupd_taken", racing_check)
    res = world.app.post_json(
        world.url(), position_body("IUPD-RACE"), headers=world.auth(), status="*"
    )
    assert res.status_int == 409, res.text
    assert res.json["code"] == "iupd_taken" and res.json["field"] == "iupd"


def test_a_late_caller_gets_the_same_409(world):  # noqa: F811
    world.app.post_json(world.url(), position_body("IUPD-LATE"), headers=world.auth(), status=201)
    res = world.app.post_json(
        world.url(), position_body("IUPD-LATE"), headers=world.auth(), status=409
    )
    assert res.json["code"] == "iupd_taken"
