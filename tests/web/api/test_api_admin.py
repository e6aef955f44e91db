"""The administration API (/api/v1/admin): a new Ente onboarded end to end with the REST API
alone under an intermediary's key (station, Ente with a service, operator account), its notice
loaded through the Ente API, paid through nodesim, the receipt seen by its operator; a key sees
only its intermediary's objects; problems naming the field; bulk onboarding, idempotent; a
portal's Enti and URLs changed (PATCH), audited with before and after, as a new account is."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hub.admin import service as svc
from hub.admin.inputs import IntermediaryInput
from hub.models import AuditEvent, Receipt
from tests.hub.admin.flow import build_site, citizen_pays, operator_sees_paid

pytestmark = [pytest.mark.pg]

BROKER, STATION, EC = "80000000001", "80000000001_02", "80000000003"
OTHER_BROKER = "80000000009"
IBAN = "IT60X0542811101000000123456"
PASSWORD = "operator-secret-2"


@pytest.fixture
def site(pg_url, committed_factory):
    return build_site(pg_url)


def _admin_key(factory, broker: str) -> str:
    """The intermediary exists (the platform's administrators made it) and has a key."""
    with factory.begin() as session:
        svc.create_intermediary(session, svc.CLI, IntermediaryInput(broker_code=broker, name="I"))
        return svc.create_admin_key(session, svc.CLI, broker, "onboarding robot").secret


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_a_new_ente_onboarded_with_the_rest_api_alone_collects_a_payment_its_operator_sees(
    site, committed_factory
):
    key = _admin_key(committed_factory, BROKER)
    auth = _auth(key)
    station = site.post_json(
        "/api/v1/admin/stations",
        {"stationCode": STATION, "brokerCode": BROKER, "primitiveVersion": 2},
        headers=auth,
        status=201,
    ).json
    assert station["primitiveVersion"] == 2 and station["enti"] == []
    ente = site.post_json(
        "/api/v1/admin/enti",
        {
            "fiscalCode": EC,
            "name": "Comune di Altrove",
            "segregationCode": "09",
            "stations": [STATION],
            "iban": IBAN,
            "referenteName": "Bruno",
            "referenteEmail": "bruno@altrove.example.it",
            "services": [
                {
                    "code": "MENSA",
                    "label": "Mensa scolastica",
                    "taxonomy": "9/0201109SE/",
                    "iban": IBAN,
                }
            ],
        },
        headers=auth,
        status=201,
    ).json
    assert [s["code"] for s in ente["services"]] == ["MENSA"]
    operator = site.post_json(
        "/api/v1/admin/operators",
        {"username": "altrove-op", "password": PASSWORD, "enti": [EC]},
        headers=auth,
        status=201,
    ).json
    assert operator == {
        "username": "altrove-op",
        "role": "operator",
        "enabled": True,
        "enti": [EC],
        "lastLoginAt": None,
    }
    assert site.get(f"/api/v1/admin/stations/{STATION}", headers=auth).json["enti"] == [EC]

    # the Ente's application (its key issued by the platform) loads a notice
    from hub.tenants import api_keys

    with committed_factory.begin() as session:
        ente_key = api_keys.create_key(session, "Gestionale", [EC]).secret
    created = site.post_json(
        f"/api/v1/enti/{EC}/debt-positions?publish=true",
        {
            "iupd": "MENSA-1",
            "debtorType": "F",
            "debtorFiscalCode": "RSSMRA80A01H501U",
            "debtorName": "Mario Rossi",
            "description": "Mensa dicembre",
            "options": [
                {
                    "amount": "18.50",
                    "dueDate": "2099-12-31",
                    "transfers": [
                        {
                            "amount": "18.50",
                            "remittanceInformation": "Mensa dicembre",
                            "category": "9/0201109SE/",
                            "iban": IBAN,
                        }
                    ],
                }
            ],
        },
        headers=_auth(ente_key),
        status=201,
    )
    notice = created.json["options"][0]["noticeNumber"]
    paid = citizen_pays(site, broker=BROKER, station=STATION, version=2, ec=EC, notice=notice)
    assert paid["delivered"].status == "delivered"
    with committed_factory() as session:
        receipt = session.scalar(sa.select(Receipt).where(Receipt.notice_number == notice))
        assert receipt.ec_fiscal_code == EC and receipt.payment_amount_cents == 1850
        prefixes = set(
            session.scalars(sa.select(AuditEvent.actor).where(AuditEvent.action.like("admin.%")))
        )
    assert paid["payment"]["receiptId"] in operator_sees_paid(
        site, "altrove-op", PASSWORD, EC, notice
    )
    assert prefixes == {"cli", f"api_key:{key[:11]}"}


def test_an_intermediarys_key_sees_only_its_own_objects(site, committed_factory):
    mine = _auth(_admin_key(committed_factory, BROKER))
    theirs = _auth(_admin_key(committed_factory, OTHER_BROKER))
    site.post_json("/api/v1/admin/stations", {"stationCode": STATION, "brokerCode": BROKER},
                   headers=mine, status=201)  # fmt: skip
    site.post_json("/api/v1/admin/enti", {"fiscalCode": EC, "name": "Mio", "segregationCode": "01",
                   "stations": [STATION]}, headers=mine, status=201)  # fmt: skip
    assert site.get("/api/v1/admin/enti", headers=theirs).json == {"items": []}
    for path in (f"/api/v1/admin/enti/{EC}", f"/api/v1/admin/stations/{STATION}"):
        missing = site.get(path, headers=theirs, status=404)
        assert missing.content_type == "application/problem+json"
    # nor may it put a station on another broker, or hand out a support account
    site.post_json("/api/v1/admin/stations", {"stationCode": "80000000001_03",
                   "brokerCode": BROKER}, headers=theirs, status=404)  # fmt: skip
    refused = site.post_json("/api/v1/admin/operators", {"username": "boss", "password": "x" * 12,
                             "role": "support"}, headers=mine, status=403)  # fmt: skip
    assert refused.json["code"] == "forbidden"


def test_keys_of_ente_applications_and_no_key_are_refused(site, committed_factory):
    from hub.seed import DEMO_EC, seed_demo
    from hub.tenants import api_keys

    with committed_factory.begin() as session:
        seed_demo(session)
        ente_key = api_keys.create_key(session, "Gestionale", [DEMO_EC]).secret
    assert site.get("/api/v1/admin/enti", status=401).json["code"] == "unauthenticated"
    refused = site.get("/api/v1/admin/enti", headers=_auth(ente_key), status=401)
    assert refused.json["code"] == "invalid_api_key"


def test_bad_input_is_a_problem_naming_the_field_and_nothing_is_written(site, committed_factory):
    auth = _auth(_admin_key(committed_factory, BROKER))
    site.post_json("/api/v1/admin/stations", {"stationCode": STATION, "brokerCode": BROKER},
                   headers=auth, status=201)  # fmt: skip
    bad = site.post_json(
        "/api/v1/admin/enti",
        {"fiscalCode": EC, "name": "X", "segregationCode": "01", "stations": [STATION],
         "iban": "IT00X0542811101000000123456"},
        headers=auth,
        status=422,
    )  # fmt: skip
    assert bad.json["field"] == "iban" and "IBAN" in bad.json["detail"]
    unknown = site.post_json("/api/v1/admin/enti", {"fiscalCode": EC, "nome": "X"},
                             headers=auth, status=422)  # fmt: skip
    assert {e["field"] for e in unknown.json["errors"]} >= {"nome", "name"}
    form = site.post_json(
        "/api/v1/admin/form-preview?lang=en",
        {"fields": [{"name": "plate", "label": {"it": "Targa", "en": "Plate"}, "required": True}],
         "amount": {"fixed": "25.00"}},
        headers=auth,
    ).json  # fmt: skip
    assert form["fields"][0]["label"] == "Plate" and form["amount"] == "fixed 25.00"
    site.post_json("/api/v1/admin/form-preview", {"fields": [{"name": "Bad Name", "label": "x"}]},
                   headers=auth, status=422)  # fmt: skip
    assert site.get("/api/v1/admin/enti", headers=auth).json == {"items": []}


def test_bulk_onboarding_through_the_api_dry_run_then_load_then_again_unchanged(
    site, committed_factory
):
    auth = _auth(_admin_key(committed_factory, BROKER))
    site.post_json("/api/v1/admin/stations", {"stationCode": STATION, "brokerCode": BROKER},
                   headers=auth, status=201)  # fmt: skip
    csv_text = (
        "fiscal_code;name;segregation_code;stations;iban;service_code;service_label;"
        "service_taxonomy\n"
        f"{EC};Comune A;01;{STATION};{IBAN};TARI;Tassa rifiuti;9/0101101IM/\n"
        f"{EC};;;;;MENSA;Mensa;9/0201109SE/\n"
        f"80000000004;Comune B;02;{STATION};;TARI;Tassa rifiuti;9/01011/\n"
    )

    def post(dry_run: str):
        return site.post(
            f"/api/v1/admin/onboarding?dryRun={dry_run}",
            csv_text.encode(),
            headers={**auth, "Content-Type": "text/csv"},
        ).json

    dry = post("true")
    assert dry["totals"] == {"created": 3, "updated": 0, "unchanged": 0, "error": 1}
    [error] = [r for r in dry["rows"] if r["action"] == "error"]
    assert error["row"] == 4 and "taxonomy" in error["message"]
    assert site.get("/api/v1/admin/enti", headers=auth).json == {"items": []}
    loaded = post("false")
    assert loaded["totals"] == dry["totals"]
    assert [
        e["fiscalCode"] for e in site.get("/api/v1/admin/enti", headers=auth).json["items"]
    ] == [EC]
    again = post("false")
    assert again["totals"] == {"created": 0, "updated": 0, "unchanged": 3, "error": 1}


def test_portals_intermediary_and_history_through_the_api(site, committed_factory):
    auth = _auth(_admin_key(committed_factory, BROKER))
    theirs = _auth(_admin_key(committed_factory, OTHER_BROKER))
    renamed = site.patch_json("/api/v1/admin/intermediary", {"name": "Intermediario Nuovo"},
                              headers=auth).json  # fmt: skip
    assert renamed == {"brokerCode": BROKER, "name": "Intermediario Nuovo"}
    site.patch_json("/api/v1/admin/intermediary", {"name": None}, headers=auth, status=422)
    site.post_json("/api/v1/admin/stations", {"stationCode": STATION, "brokerCode": BROKER},
                   headers=auth, status=201)  # fmt: skip
    site.post_json("/api/v1/admin/enti", {"fiscalCode": EC, "name": "Mio", "segregationCode": "01",
                   "stations": [STATION]}, headers=auth, status=201)  # fmt: skip
    # a PayER portal keeps its PortaleID, IV and Key: nothing is shown back, nothing rotated
    payer = site.post_json(
        "/api/v1/admin/portals",
        {"name": "Portale PayER", "enti": [EC], "returnUrlPrefix": "https://payer.example.it/",
         "legacyBuffer": True, "legacyCode": "PORTALE01", "legacyIv": "iv-1", "legacyKey": "k-2"},
        headers=auth, status=201,
    ).json  # fmt: skip
    assert payer["keyId"] == "payer:PORTALE01" and payer["secret"] is None
    refused = site.post("/api/v1/admin/portals/payer:PORTALE01/rotate", headers=auth, status=422)
    assert refused.json["code"] == "legacy_portal"
    # a portal of payhub's signed API is switched off and on
    plain = site.post_json("/api/v1/admin/portals", {"name": "Portale", "enti": [EC],
                           "returnUrlPrefix": "https://portale.example.it/"},
                           headers=auth, status=201).json  # fmt: skip
    path = f"/api/v1/admin/portals/{plain['keyId']}"
    assert site.patch_json(path, {"active": False}, headers=auth).json["active"] is False
    assert site.get(path, headers=auth).json["active"] is False
    site.patch_json(path, {"active": None}, headers=auth, status=422)
    site.get(path, headers=theirs, status=404)
    # the history: who, what, before and after, the key's own objects only
    changes = site.get("/api/v1/admin/history", headers=auth).json["items"]
    assert changes[0]["action"] == "admin.portal.update"
    assert changes[0]["before"] == {"active": True} and changes[0]["after"] == {"active": False}
    assert changes[0]["actor"] == f"api_key:{auth['Authorization'][7:18]}"
    assert {"admin.intermediary.update", "admin.ente.create", "admin.station.create"} <= {
        c["action"] for c in changes
    }
    of_ente = site.get(f"/api/v1/admin/history?ente={EC}&limit=2", headers=auth).json["items"]
    assert len(of_ente) <= 2 and {c["enteFiscalCode"] for c in of_ente} == {EC}
    seen = site.get("/api/v1/admin/history", headers=theirs).json["items"]
    assert {c["target"] for c in seen} == {f"intermediary:{OTHER_BROKER}"}  # its own creation
    site.get(f"/api/v1/admin/history?ente={EC}", headers=theirs, status=404)
    bad = site.get("/api/v1/admin/history?limit=0", headers=auth, status=422)
    assert bad.json["field"] == "limit"


def test_a_portals_enti_and_urls_are_changed_with_patch_and_audited_before_and_after(
    site, committed_factory
):
    key = _admin_key(committed_factory, BROKER)
    auth = _auth(key)
    theirs = _auth(_admin_key(committed_factory, OTHER_BROKER))
    site.post_json("/api/v1/admin/stations", {"stationCode": STATION, "brokerCode": BROKER},
                   headers=auth, status=201)  # fmt: skip
    for code, segregation in ((EC, "01"), ("80000000004", "02")):
        site.post_json("/api/v1/admin/enti", {"fiscalCode": code, "name": "Mio",
                       "segregationCode": segregation, "stations": [STATION]},
                       headers=auth, status=201)  # fmt: skip
    plain = site.post_json("/api/v1/admin/portals", {"name": "Portale", "enti": [EC],
                           "returnUrlPrefix": "https://portale.example.it/"},
                           headers=auth, status=201).json  # fmt: skip
    path = f"/api/v1/admin/portals/{plain['keyId']}"
    changed = site.patch_json(
        path,
        {"enti": [EC, "80000000004"], "returnUrlPrefix": "https://pagamenti.example.it/",
         "notifyUrl": "https://pagamenti.example.it/esito"},
        headers=auth,
    ).json  # fmt: skip
    assert changed["enti"] == [EC, "80000000004"] and changed["active"] is True
    assert changed["returnUrlPrefix"] == "https://pagamenti.example.it/"
    assert changed["notifyUrl"] == "https://pagamenti.example.it/esito"
    assert changed["notifySecret"].startswith("whsec_")  # a first notification URL: once
    assert "notifySecret" not in site.get(path, headers=auth).json
    # a URL the outgoing-URL policy refuses, an Ente not its own: nothing is changed
    refused = site.patch_json(path, {"notifyUrl": "https://10.0.0.1/esito"}, headers=auth,
                              status=422).json  # fmt: skip
    assert refused["field"] == "notify_url" and "refused" in refused["detail"]
    bad = site.patch_json(path, {"returnUrlPrefix": "portale"}, headers=auth, status=422).json
    assert bad["field"] == "returnUrlPrefix"
    site.patch_json(path, {"enti": [EC, "80000000009"]}, headers=auth, status=404)
    site.patch_json(path, {"name": "Loro"}, headers=theirs, status=404)
    now = site.get(path, headers=auth).json
    assert now == {k: v for k, v in changed.items() if k != "notifySecret"}
    # the change in the history: who, before and after
    change = site.get(f"/api/v1/admin/history?target=portal:{plain['keyId']}",
                      headers=auth).json["items"][0]  # fmt: skip
    assert change["action"] == "admin.portal.update" and change["actor"] == f"api_key:{key[:11]}"
    assert change["before"]["enti"] == [EC] and change["after"]["enti"] == [EC, "80000000004"]
    assert change["before"]["notify_url"] is None
    assert change["after"]["notify_url"] == "https://pagamenti.example.it/esito"
    # a new account's creation is a change like the others: before nothing, after its fields
    site.post_json("/api/v1/admin/operators", {"username": "mio-op", "password": PASSWORD,
                   "enti": [EC]}, headers=auth, status=201)  # fmt: skip
    created = site.get("/api/v1/admin/history?target=operator:mio-op", headers=auth).json
    (event,) = created["items"]
    assert event["action"] == "operator.create" and event["actor"] == f"api_key:{key[:11]}"
    assert event["after"] == {"username": "mio-op", "role": "operator", "enabled": True,
                              "enti": [EC]}  # fmt: skip
    assert set(event["before"].values()) == {None} and PASSWORD not in str(event)
    with committed_factory() as session:
        audited = session.scalar(
            sa.select(AuditEvent).where(AuditEvent.target == "operator:mio-op")
        )
        assert audited.api_key_id is not None


def test_every_administration_operation_is_in_the_openapi_document(site):
    import re

    from web.api.admin import ROUTES

    document = site.get("/api/v1/openapi.json").json
    for name, (pattern, methods) in ROUTES.items():
        path = re.sub(r"{([a-z_]+):(?:[^{}]|{[^{}]*})*}", "{}", pattern)
        found = [p for p in document["paths"] if re.sub(r"{[A-Za-z]+}", "{}", p) == path]
        assert found, name
        operations = document["paths"][found[0]]
        for method in methods:
            operation = operations[method.lower()]
            assert operation["tags"] == ["administration"] and operation["operationId"], name
