"""Issue 15's "Must show", with the REST API alone: under an intermediary's key a NEW Ente is
registered (/api/v1/admin), its activation request recorded and moved through the
intermediary's steps (/api/v1/admin/activation-requests/{id}/steps), the referente confirms
through the link of a real e-mail, a citizen pays through nodesim while it is in test only (a
test receipt) and after production (a real one), and the Ente's operator sees both in /ops. The
steps endpoint: only the intermediary's steps, 409 for a step the state does not allow, 404 for
another intermediary's requests, in the OpenAPI document."""

from __future__ import annotations

import pytest

from hub.admin import service as svc
from hub.admin.inputs import IntermediaryInput
from hub.tenants import api_keys
from tests.hub.admin.flow import (
    build_site,
    citizen_pays,
    load_notice,
    mail_worker,
    operator_sees_paid,
    payment_page,
    receipt_of,
    referente_confirms,
    send_activation_links,
)

pytestmark = [pytest.mark.pg]

BROKER, OTHER_BROKER = "80000000031", "80000000039"
TEST_STATION, PROD_STATION = f"{BROKER}_90", f"{BROKER}_01"
EC = "80000000032"
IBAN = "IT60X0542811101000000123456"
TAXONOMY = "9/0201109SE/"
REFERENTE = "dario.bianchi@altrove.example.it"
PASSWORD = "operator-secret-8"
PROBLEM = "application/problem+json"


@pytest.fixture
def site(pg_url, committed_factory):
    return build_site(pg_url)


def _admin_key(factory, broker: str) -> dict[str, str]:
    """The intermediary exists (the platform's administrators made it) and has a key."""
    with factory.begin() as session:
        svc.create_intermediary(session, svc.CLI, IntermediaryInput(broker_code=broker, name="I"))
        secret = svc.create_admin_key(session, svc.CLI, broker, "onboarding robot").secret
    return {"Authorization": f"Bearer {secret}"}


def _new_ente(site, auth, *, production_station: bool = True) -> None:
    """Stations of both environments (the production one optional), the Ente on the test one."""
    site.post_json("/api/v1/admin/stations", {"stationCode": TEST_STATION, "brokerCode": BROKER,
                   "primitiveVersion": 2, "test": True}, headers=auth, status=201)  # fmt: skip
    if production_station:
        site.post_json("/api/v1/admin/stations", {"stationCode": PROD_STATION,
                       "brokerCode": BROKER, "primitiveVersion": 2}, headers=auth,
                       status=201)  # fmt: skip
    site.post_json(
        "/api/v1/admin/enti",
        {
            "fiscalCode": EC,
            "name": "Comune di Altrove",
            "segregationCode": "09",
            "stations": [TEST_STATION],
            "iban": IBAN,
            "referenteName": "Dario",
            "referenteEmail": REFERENTE,
            "services": [{"code": "MENSA", "label": "Mensa", "taxonomy": TAXONOMY, "iban": IBAN}],
        },
        headers=auth,
        status=201,
    )


def _open(site, auth) -> int:
    opened = site.post_json(f"/api/v1/admin/enti/{EC}/activation-requests",
                            {"kind": "activation", "subject": "Attivazione mensa"},
                            headers=auth, status=201).json  # fmt: skip
    assert opened["state"] == "received" and opened["steps"][0]["event"] == "open"
    return int(opened["id"])


def _step(site, auth, request_id: int, step: str, status: int = 200, **more):
    return site.post_json(f"/api/v1/admin/activation-requests/{request_id}/steps",
                          {"step": step, **more}, headers=auth, status=status)  # fmt: skip


def test_a_new_ente_activated_with_the_rest_api_alone_test_then_production_then_paid(
    site, committed_factory, smtp
):
    auth = _admin_key(committed_factory, BROKER)
    _new_ente(site, auth)
    site.post_json("/api/v1/admin/operators", {"username": "altrove-op2", "password": PASSWORD,
                   "enti": [EC]}, headers=auth, status=201)  # fmt: skip
    with committed_factory.begin() as session:  # the Ente's application's key (the platform's)
        ente_key = api_keys.create_key(session, "Gestionale", [EC]).secret
    ente_auth = {"Authorization": f"Bearer {ente_key}"}

    request_id = _open(site, auth)
    moved = _step(site, auth, request_id, "configure_test").json  # its test station, chosen
    assert moved["state"] == "configured_test" and moved["enteInProduction"] is False
    assert moved["steps"][-1]["stationCode"] == TEST_STATION

    with mail_worker(committed_factory, smtp) as broker:
        assert send_activation_links(broker, committed_factory) == 1
        [message] = smtp.wait_for(1)
        assert message["To"] == REFERENTE
        assert "test environment" in referente_confirms(site, message)
        # the Ente reads its request through its own API
        seen = site.get(f"/api/v1/enti/{EC}/activation-requests/{request_id}", headers=ente_auth)
        assert seen.json["state"] == "confirmed_test"

        notice = load_notice(site, ente_key, EC, iupd="MENSA-PROVA", amount="1.00", iban=IBAN,
                             taxonomy=TAXONOMY)  # fmt: skip
        paid = citizen_pays(site, broker=BROKER, station=TEST_STATION, version=2, ec=EC,
                            notice=notice)  # fmt: skip
        assert paid["delivered"].status == "delivered"
        trial = receipt_of(committed_factory, notice)
        assert trial.ec_fiscal_code == EC and trial.test is True

        moved = _step(site, auth, request_id, "configure_production", station=PROD_STATION).json
        assert moved["state"] == "configured_production" and moved["enteInProduction"] is True
        assert send_activation_links(broker, committed_factory) == 1
        assert "in production" in referente_confirms(site, smtp.wait_for(2)[1])

    closed = _step(site, auth, request_id, "close").json
    assert closed["state"] == "closed" and closed["clock"]["running"] is False
    key_actor = closed["steps"][0]["actor"]
    assert key_actor.startswith("api_key:ph_")
    assert [(s["event"], s["actor"]) for s in closed["steps"]] == [
        ("open", key_actor),
        ("configure_test", key_actor),
        ("confirm_test", f"referente:{REFERENTE}"),
        ("configure_production", key_actor),
        ("confirm_production", f"referente:{REFERENTE}"),
        ("close", key_actor),
    ]
    listed = site.get("/api/v1/admin/activation-requests?state=all", headers=auth).json["items"]
    assert [(r["id"], r["state"]) for r in listed] == [(request_id, "closed")]
    assert site.get("/api/v1/admin/activation-requests?state=open", headers=auth).json == {
        "items": []
    }

    notice = load_notice(site, ente_key, EC, iupd="MENSA-DIC", amount="18.50", iban=IBAN,
                         taxonomy=TAXONOMY)  # fmt: skip
    paid = citizen_pays(site, broker=BROKER, station=PROD_STATION, version=2, ec=EC,
                        notice=notice)  # fmt: skip
    assert paid["delivered"].status == "delivered"
    real = receipt_of(committed_factory, notice)
    assert real.payment_amount_cents == 1850 and real.test is False

    page = operator_sees_paid(site, "altrove-op2", PASSWORD, EC, notice)
    assert paid["payment"]["receiptId"] in page and "badge-test" not in page
    page = payment_page(site, EC, trial.notice_number)
    assert trial.receipt_id in page and "badge-test" in page


def test_refused_steps_are_problem_documents_and_nothing_moves(site, committed_factory):
    auth = _admin_key(committed_factory, BROKER)
    _new_ente(site, auth, production_station=False)
    request_id = _open(site, auth)

    not_now = _step(site, auth, request_id, "close", status=409)
    assert not_now.content_type == PROBLEM and not_now.json["code"] == "step_not_allowed"
    # the referente's and the Ente's steps are not the intermediary's
    for step in ("confirm_test", "cancel", "explode"):
        refused = _step(site, auth, request_id, step, status=422)
        assert refused.content_type == PROBLEM and refused.json["field"] == "step"
    station = _step(site, auth, request_id, "configure_test", status=422, station="80000000039_01")
    assert station.json["field"] == "station"
    # a station is only for a configuration step
    _step(site, auth, request_id, "wait_pagopa", status=422, station=TEST_STATION)

    _step(site, auth, request_id, "wait_pagopa", note="attivazione presso pagoPA")
    assert _step(site, auth, request_id, "configure_test", status=409).json["code"] == (
        "step_not_allowed"
    )
    assert _step(site, auth, request_id, "resume").json["state"] == "received"
    _step(site, auth, request_id, "configure_test")
    # the referente confirms on its own (here directly, as the link would)
    from hub.onboarding import requests

    with committed_factory.begin() as session:
        requests.move(session, request_id, "confirm_test", actor="referente:x", ente_side=True)
    no_station = _step(site, auth, request_id, "configure_production", status=409)
    assert no_station.json["code"] == "no_station"
    shown = site.get(f"/api/v1/admin/activation-requests/{request_id}", headers=auth).json
    assert shown["state"] == "confirmed_test"
    assert [s["event"] for s in shown["steps"]] == [
        "open",
        "wait_pagopa",
        "resume",
        "configure_test",
        "confirm_test",
    ]
    assert _step(site, auth, request_id, "reject", status=409).json["code"] == "step_not_allowed"


def test_another_intermediarys_key_gets_404_for_the_requests_of_enti_it_does_not_serve(
    site, committed_factory
):
    auth = _admin_key(committed_factory, BROKER)
    theirs = _admin_key(committed_factory, OTHER_BROKER)
    _new_ente(site, auth)
    request_id = _open(site, auth)
    for response in (
        site.get(f"/api/v1/admin/activation-requests/{request_id}", headers=theirs, status=404),
        _step(site, theirs, request_id, "configure_test", status=404),
        site.post_json(
            f"/api/v1/admin/enti/{EC}/activation-requests",
            {"subject": "Attivazione"},
            headers=theirs,
            status=404,
        ),
        site.get("/api/v1/admin/activation-requests/999999", headers=auth, status=404),
    ):
        assert response.content_type == PROBLEM
    assert site.get("/api/v1/admin/activation-requests", headers=theirs).json == {"items": []}
    assert (
        site.get(f"/api/v1/admin/activation-requests/{request_id}", headers=auth).json["state"]
        == "received"
    )
    assert site.get("/api/v1/admin/activation-requests", status=401).content_type == PROBLEM


def test_the_activation_endpoints_are_in_the_openapi_document(site):
    document = site.get("/api/v1/openapi.json").json
    steps = document["paths"]["/admin/activation-requests/{requestId}/steps"]["post"]
    assert steps["operationId"] == "adminTakeActivationStep"
    assert {"200", "404", "409", "422"} <= set(steps["responses"])
    body = steps["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][body.rsplit("/", 1)[1]]
    assert set(schema["properties"]["step"]["enum"]) == {
        "configure_test",
        "configure_production",
        "ask_ente",
        "wait_pagopa",
        "resume",
        "close",
        "reject",
    }
    assert "post" in document["paths"]["/admin/enti/{fiscalCode}/activation-requests"]
    assert "get" in document["paths"]["/admin/activation-requests"]
    assert "get" in document["paths"]["/admin/activation-requests/{requestId}"]
