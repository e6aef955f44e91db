"""The Ente's activation requests over the REST API: open, read with history and clock, take
the Ente's steps; the intermediary's steps are refused; another Ente's key sees nothing."""

from __future__ import annotations

import sqlalchemy as sa

from hub.models import Station
from hub.onboarding import requests

BASE = "/api/v1/enti/{}/activation-requests"


def _test_station(world) -> None:
    with world.factory.begin() as session:
        serving = session.scalar(sa.select(Station).order_by(Station.id))
        session.add(
            Station(station_code="99999999999_90", intermediary=serving.intermediary, test=True)
        )


def test_an_ente_opens_a_request_and_confirms_the_test(world):
    _test_station(world)
    url = BASE.format(world.ente)
    created = world.app.post_json(
        url,
        {
            "kind": "activation",
            "subject": "Attivazione mensa",
            "serviceCode": "MENSA",
            "note": "IBAN allegato",
        },
        headers=world.auth(),
        status=201,
    )
    body = created.json
    assert created.headers["Location"].endswith(f"/activation-requests/{body['id']}")
    assert body["state"] == "received" and body["serviceCode"] == "MENSA"
    assert body["clock"]["status"] == "ok" and body["clock"]["targetDays"] == "15.0"
    assert (
        body["steps"][0]["actor"].startswith("api:") and body["steps"][0]["note"] == "IBAN allegato"
    )

    with world.factory.begin() as session:  # the intermediary configures it in test
        requests.move(session, body["id"], "configure_test", actor="ops:admin")

    one = f"{url}/{body['id']}"
    assert world.app.get(one, headers=world.auth()).json["state"] == "configured_test"
    refused = world.app.post_json(
        one + "/steps", {"step": "confirm_production"}, headers=world.auth(), status=409
    )
    assert refused.json["code"] == "step_not_allowed"
    confirmed = world.app.post_json(
        one + "/steps", {"step": "confirm_test", "note": "ok"}, headers=world.auth()
    )
    assert confirmed.json["state"] == "confirmed_test"
    assert confirmed.json["steps"][-1]["event"] == "confirm_test"
    assert confirmed.json["allowedSteps"] == [
        "ask_ente",
        "wait_pagopa",
        "configure_production",
        "cancel",
    ]

    listed = world.app.get(url, headers=world.auth()).json["items"]
    assert [r["id"] for r in listed] == [body["id"]]
    assert listed[0]["steps"] is None  # the list leaves the history out
    assert world.app.get(url + "?state=open", headers=world.auth()).json["items"]
    # the intermediary's steps are not the Ente's
    invalid = world.app.post_json(
        one + "/steps", {"step": "configure_production"}, headers=world.auth(), status=422
    )
    assert invalid.json["field"] == "step"


def test_an_incomplete_request_is_resumed_by_the_ente(world):
    url = BASE.format(world.ente)
    body = world.app.post_json(
        url,
        {"kind": "change", "subject": "Nuovo IBAN", "complete": False},
        headers=world.auth(),
        status=201,
    ).json
    assert body["state"] == "waiting_ente" and body["clock"]["running"] is False
    resumed = world.app.post_json(
        f"{url}/{body['id']}/steps",
        {"step": "resume", "note": "IBAN inviato"},
        headers=world.auth(),
    )
    assert resumed.json["state"] == "received" and resumed.json["clock"]["running"] is True


def test_other_entes_and_bad_input(world):
    url = BASE.format(world.ente)
    body = world.app.post_json(url, {"subject": "x"}, headers=world.auth(), status=201).json
    world.app.get(f"{url}/{body['id']}", headers=world.auth(world.other_key), status=404)
    world.app.get(
        f"{BASE.format(world.other)}/{body['id']}", headers=world.auth(world.other_key), status=404
    )
    assert (
        world.app.get(BASE.format(world.other), headers=world.auth(world.other_key)).json["items"]
        == []
    )
    unknown = world.app.post_json(
        url, {"subject": "x", "serviceCode": "NOPE"}, headers=world.auth(), status=422
    )
    assert unknown.json["field"] == "serviceCode"
    assert (
        world.app.post_json(
            url, {"subject": "x", "kind": "other"}, headers=world.auth(), status=422
        ).json["field"]
        == "kind"
    )
    assert (
        world.app.post_json(url, {"subject": "   "}, headers=world.auth(), status=422).json["field"]
        == "subject"
    )
    world.app.get(f"{url}/999999999", headers=world.auth(), status=404)
    world.app.get(url + "?state=closed", headers=world.auth(), status=400)
