"""hub.admin.service: accounts with validity set the Ente's current IBAN; a portal's secret is
shown once and rotated; a portal's Enti and URLs are changed, its URLs under the outgoing URL
policy and its notification endpoint following; a role change ends the account's sessions; a
form definition is checked and previewed in either language; webhook and lookup URLs follow the
outgoing URL policy; every change (a new dashboard account's too) is audited with before and
after, secrets masked."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from hub import clock, http
from hub.admin import inputs as i
from hub.admin import service as svc
from hub.errors import Conflict, NotFound
from hub.models import AuditEvent, Level1Portal, WebhookEndpoint

pytestmark = [pytest.mark.pg]

BROKER, STATION, EC = "80000000001", "80000000001_01", "80000000002"
IBAN = "IT60X0542811101000000123456"
NEXT_IBAN = "IT36I0306909606100000063416"


@pytest.fixture
def ente(db):
    svc.create_intermediary(db, svc.CLI, i.IntermediaryInput(broker_code=BROKER, name="I"))
    svc.create_station(
        db, svc.CLI, i.StationInput(station_code=STATION, broker_code=BROKER, password="pw-123456")
    )
    return svc.create_ente(
        db,
        svc.CLI,
        i.parse(
            i.EnteInput,
            {"fiscalCode": EC, "name": "Comune", "segregationCode": "07", "stations": [STATION],
             "iban": IBAN},
        ),
    )  # fmt: skip


def test_an_account_valid_from_today_becomes_the_current_one_and_the_old_one_closes(db, ente):
    today = clock.today()
    svc.add_iban(
        db, svc.CLI, EC, i.IbanInput(iban=NEXT_IBAN, valid_from=today + dt.timedelta(days=10))
    )
    assert ente.iban == IBAN  # not valid yet
    svc.add_iban(db, svc.CLI, EC, i.IbanInput(iban=NEXT_IBAN, valid_from=today))
    assert ente.iban == IBAN  # both valid: the current one stays
    svc.add_iban(db, svc.CLI, EC, i.IbanInput(iban=IBAN, valid_from=today - dt.timedelta(days=1),
                                             valid_until=today - dt.timedelta(days=1)))  # fmt: skip
    assert ente.iban == NEXT_IBAN  # the old one closed
    assert [(a.iban, a.valid_until) for a in svc.list_ibans(db, svc.CLI, EC)] == [
        (IBAN, today - dt.timedelta(days=1)),
        (NEXT_IBAN, None),
    ]
    changed = db.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "admin.ente.update")
    ).all()
    assert changed[-1].detail == {"before": {"iban": IBAN}, "after": {"iban": NEXT_IBAN}}


def test_a_postal_account_must_be_a_bancoposta_iban():
    with pytest.raises(i.InvalidInput, match="postal"):
        i.parse(i.IbanInput, {"iban": IBAN, "postal": True})


def test_station_credentials_are_audited_masked_and_never_described(db, ente):
    svc.update_station(
        db, svc.CLI, STATION, i.StationPatch(password="new-pw-789", primitive_version=1)
    )
    event = db.scalar(sa.select(AuditEvent).where(AuditEvent.action == "admin.station.update"))
    assert event.detail == {
        "before": {"password": "***", "primitive_version": 2},
        "after": {"password": "***", "primitive_version": 1},
    }
    from hub.admin import describe

    described = describe.station(svc.get_station(db, svc.CLI, STATION))
    assert described["passwordSet"] is True and "new-pw-789" not in str(described)


def test_a_portal_secret_is_given_once_and_rotation_replaces_it(db, ente):
    registered = svc.create_portal(
        db, svc.CLI,
        i.PortalInput(name="Portale", enti=[EC], return_url_prefix="https://portale.example.it/"),
    )  # fmt: skip
    old = registered.secret
    new = svc.rotate_portal_secret(db, svc.CLI, registered.portal.key_id)
    portal = db.scalar(sa.select(Level1Portal))
    assert portal.secret == new != old
    event = db.scalar(sa.select(AuditEvent).where(AuditEvent.action == "admin.portal.rotate"))
    assert old not in str(event.detail) and new not in str(event.detail)


def test_a_role_change_or_disabling_ends_the_accounts_sessions(db, ente):
    account = svc.create_operator(
        db, svc.CLI, i.OperatorInput(username="anna", password="a-long-secret", enti=[EC])
    )
    version = account.ticket_version
    svc.update_operator(db, svc.CLI, "anna", i.OperatorPatch(enabled=False))
    assert account.ticket_version == version + 1 and account.enabled is False
    with pytest.raises(i.InvalidInput, match="at least one Ente"):
        svc.update_operator(db, svc.CLI, "anna", i.OperatorPatch(enti=[]))


def test_form_definitions_are_checked_and_previewed_in_either_language():
    form = {
        "fields": [
            {"name": "zone", "label": {"it": "Zona", "en": "Zone"}, "type": "select",
             "options": ["A", "B"], "required": True},
            {"name": "days", "label": "Giorni", "type": "number"},
        ],
        "amount": {"min": "1.00", "max": "500.00"},
    }  # fmt: skip
    english = svc.preview_form(form, "en")
    assert [f["label"] for f in english["fields"]] == ["Zone", "Giorni"]
    assert english["fields"][0]["options"] == ["A", "B"]
    assert english["amount"] == "between 1.00 and 500.00"
    assert svc.preview_form(form, "it")["fields"][0]["label"] == "Zona"
    for bad, message in (
        ({"fields": [{"name": "amount", "label": "x"}]}, "reserved"),
        ({"fields": [{"name": "z", "label": "x", "type": "select"}]}, "needs options"),
        ({"fields": [{"name": "a", "label": "x"}, {"name": "a", "label": "y"}]}, "same name"),
        ({"fields": [], "amount": {"fixed": "12,50"}}, "amount.fixed"),
        ({"fields": [{"name": "p", "label": "x", "pattern": "(["}]}, "regular expression"),
    ):
        with pytest.raises(i.InvalidInput, match=message):
            svc.preview_form(bad)


def test_webhook_and_lookup_urls_follow_the_outgoing_url_policy(db, ente, monkeypatch):
    # the default policy, whatever an app built by an earlier test configured in this process
    monkeypatch.setattr(http, "_policy", http.UrlPolicy())
    with pytest.raises(i.InvalidInput, match="refused"):
        svc.create_webhook(db, svc.CLI, EC, i.WebhookEndpointInput(url="https://127.0.0.1/hook"))
    svc.create_service(
        db, svc.CLI, EC, i.ServiceInput(code="CDS", label="Multe", taxonomy="9/0301105TS/")
    )
    with pytest.raises(Exception, match="refused"):
        svc.set_lookup(
            db, svc.CLI, EC, "CDS",
            i.LookupInput(url="https://10.0.0.1/lookup", keys=[{"name": "code", "label": "x"}]),
        )  # fmt: skip
    registered = svc.set_lookup(
        db, svc.CLI, EC, "CDS",
        i.LookupInput(url="https://gestionale.example.it/lookup",
                      keys=[{"name": "code", "label": "Codice"}]),
    )  # fmt: skip
    service = svc.get_service(db, svc.CLI, EC, "CDS")
    assert service.form["lookup"]["keyId"] == registered.endpoint.key_id
    # editing the form keeps the lookup
    svc.update_service(db, svc.CLI, EC, "CDS", i.ServicePatch(form=i.FormDefinition()))
    assert service.form["lookup"]["keyId"] == registered.endpoint.key_id


def test_a_payer_portal_keeps_its_own_portale_id_iv_and_key_and_is_never_rotated(db, ente):
    from hub.checkout import legacy_buffer

    data = i.parse(
        i.PortalInput,
        {"name": "Portale PayER", "enti": [EC], "returnUrlPrefix": "https://payer.example.it/",
         "legacyBuffer": True, "legacyCode": "PORTALE01", "legacyIv": "iv-123",
         "legacyKey": "key-456"},
    )  # fmt: skip
    registered = svc.create_portal(db, svc.CLI, data)
    assert registered.secret is None  # the portal has its keys already
    portal = registered.portal
    assert portal.key_id == "payer:PORTALE01" and portal.legacy_buffer is True
    assert legacy_buffer.keys_of(portal) == legacy_buffer.Keys("iv-123", "key-456")
    event = db.scalar(sa.select(AuditEvent).where(AuditEvent.action == "admin.portal.create"))
    assert event.detail["after"]["legacy_iv"] == event.detail["after"]["legacy_key"] == "***"
    assert "key-456" not in str(event.detail) and "iv-123" not in str(event.detail)
    with pytest.raises(svc.LegacyKeys):
        svc.rotate_portal_secret(db, svc.CLI, "payer:PORTALE01")
    with pytest.raises(Conflict, match="exists"):
        svc.create_portal(db, svc.CLI, data)


def test_a_payer_portal_needs_all_its_keys_and_only_a_payer_portal_has_them():
    base = {"name": "P", "enti": [EC], "returnUrlPrefix": "https://payer.example.it/"}
    with pytest.raises(i.InvalidInput, match="PortaleID"):
        i.parse(i.PortalInput, {**base, "legacyBuffer": True, "legacyCode": "P01"})
    with pytest.raises(i.InvalidInput, match="PayER portal only"):
        i.parse(i.PortalInput, {**base, "legacyCode": "P01"})


def test_a_portal_switched_off_is_audited_and_switching_it_again_records_nothing(db, ente):
    registered = svc.create_portal(
        db, svc.CLI,
        i.PortalInput(name="Portale", enti=[EC], return_url_prefix="https://portale.example.it/"),
    )  # fmt: skip
    key_id = registered.portal.key_id
    svc.update_portal(db, svc.CLI, key_id, i.PortalPatch(active=False))
    svc.set_portal_active(db, svc.CLI, key_id, False)
    assert registered.portal.active is False
    events = db.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "admin.portal.update")
    ).all()
    assert [e.detail for e in events] == [{"before": {"active": True}, "after": {"active": False}}]


def test_the_history_says_who_changed_what_with_before_and_after_newest_first(db, ente):
    actor = svc.Actor("ops:anna")
    svc.update_ente(db, actor, EC, i.EntePatch(name="Comune di Prova"))
    svc.update_station(db, actor, STATION, i.StationPatch(password="another-pw-1"))
    rows = svc.history(db, svc.CLI, fiscal_code=EC)
    assert [r.action for r in rows][:1] == ["admin.ente.update"]
    assert {r.action for r in rows} >= {"admin.ente.create", "admin.iban.add"}
    from hub.admin import describe

    change = describe.change(rows[0])
    assert change["actor"] == "ops:anna" and change["enteFiscalCode"] == EC
    assert change["before"] == {"name": "Comune"} and change["after"] == {"name": "Comune di Prova"}
    station = [describe.change(r) for r in svc.history(db, svc.CLI, target=f"station:{STATION}")]
    assert station[0]["after"] == {"password": "***"}
    assert [c["action"] for c in station] == ["admin.station.update", "admin.station.create"]
    assert len(svc.history(db, svc.CLI, limit=1)) == 1


def test_an_intermediarys_history_holds_only_its_own_objects(db, ente):
    svc.create_intermediary(db, svc.CLI, i.IntermediaryInput(broker_code="80000000009", name="B"))
    svc.create_station(
        db, svc.CLI, i.StationInput(station_code="80000000009_01", broker_code="80000000009")
    )
    svc.create_ente(
        db, svc.CLI,
        i.parse(i.EnteInput, {"fiscalCode": "80000000010", "name": "Altro", "segregationCode": "01",
                              "stations": ["80000000009_01"]}),
    )  # fmt: skip
    mine = svc.Actor("api_key:x", intermediary_id=ente.stations[0].intermediary_id)
    targets = {r.target for r in svc.history(db, mine, limit=500)}
    assert {f"ente:{EC}", f"station:{STATION}", f"intermediary:{BROKER}"} <= targets
    assert not targets & {"ente:80000000010", "station:80000000009_01", "intermediary:80000000009"}
    with pytest.raises(NotFound):
        svc.history(db, mine, fiscal_code="80000000010")


SECOND_EC = "80000000011"


def _second_ente(db, station: str = STATION, code: str = SECOND_EC):
    return svc.create_ente(
        db, svc.CLI,
        i.parse(i.EnteInput, {"fiscalCode": code, "name": "Unione", "segregationCode": "08",
                              "stations": [station]}),
    )  # fmt: skip


def _portal(db, **extra):
    data = {"name": "Portale", "enti": [EC], "returnUrlPrefix": "https://portale.example.it/"}
    return svc.create_portal(db, svc.CLI, i.parse(i.PortalInput, {**data, **extra}))


def _updates(db, key_id: str) -> list[dict]:
    return [
        e.detail
        for e in db.scalars(
            sa.select(AuditEvent)
            .where(
                AuditEvent.action == "admin.portal.update", AuditEvent.target == f"portal:{key_id}"
            )
            .order_by(AuditEvent.id)
        )
    ]


def test_a_portals_name_enti_and_urls_are_changed_and_audited_with_before_and_after(
    db, ente, monkeypatch
):
    monkeypatch.setattr(http, "_policy", http.UrlPolicy())
    _second_ente(db)
    registered = _portal(db, notifyUrl="https://portale.example.it/esito")
    key_id, secret = registered.portal.key_id, registered.secret
    endpoint = db.get(WebhookEndpoint, registered.portal.notify_endpoint_id)
    changed = svc.update_portal(
        db, svc.CLI, key_id,
        i.parse(i.PortalPatch, {"name": "Portale Unione", "enti": [SECOND_EC, EC, SECOND_EC],
                                "returnUrlPrefix": "https://pagamenti.example.it/",
                                "notifyUrl": "https://pagamenti.example.it/esito"}),
    )  # fmt: skip
    portal = changed.portal
    assert (portal.name, portal.enti, portal.return_url_prefix, portal.notify_url) == (
        "Portale Unione", [EC, SECOND_EC], "https://pagamenti.example.it/",
        "https://pagamenti.example.it/esito",
    )  # fmt: skip
    # the portal's keys are as they were: it signs and verifies as before
    assert portal.secret == secret and changed.notify_secret is None
    assert portal.notify_endpoint_id == endpoint.id
    assert endpoint.url == "https://pagamenti.example.it/esito" and endpoint.deleted_at is None
    assert _updates(db, key_id) == [
        {
            "before": {"name": "Portale", "enti": [EC],
                       "return_url_prefix": "https://portale.example.it/",
                       "notify_url": "https://portale.example.it/esito"},
            "after": {"name": "Portale Unione", "enti": [EC, SECOND_EC],
                      "return_url_prefix": "https://pagamenti.example.it/",
                      "notify_url": "https://pagamenti.example.it/esito"},
        }
    ]  # fmt: skip
    # the same values again change nothing and record nothing
    svc.update_portal(
        db, svc.CLI, key_id, i.PortalPatch(name="Portale Unione", enti=[EC, SECOND_EC])
    )
    assert len(_updates(db, key_id)) == 1


def test_a_portals_urls_follow_the_outgoing_url_policy_and_its_enti_must_be_the_actors(
    db, ente, monkeypatch
):
    monkeypatch.setattr(http, "_policy", http.UrlPolicy())
    key_id = _portal(db).portal.key_id
    for field, url in (("return_url_prefix", "https://127.0.0.1/"),
                       ("notify_url", "https://10.0.0.1/esito")):  # fmt: skip
        with pytest.raises(i.InvalidInput, match="refused") as refused:
            svc.update_portal(db, svc.CLI, key_id, i.parse(i.PortalPatch, {field: url}))
        assert refused.value.field == field
    with pytest.raises(i.InvalidInput, match="returnUrlPrefix"):
        i.parse(i.PortalPatch, {"returnUrlPrefix": "ftp://portale.example.it/"})
    with pytest.raises(i.InvalidInput, match="enti"):
        i.parse(i.PortalPatch, {"enti": []})
    # an intermediary's key moves its portals among its own Enti only
    svc.create_intermediary(db, svc.CLI, i.IntermediaryInput(broker_code="80000000009", name="B"))
    svc.create_station(
        db, svc.CLI, i.StationInput(station_code="80000000009_01", broker_code="80000000009")
    )
    _second_ente(db, station="80000000009_01", code="80000000010")
    mine = svc.Actor("api_key:x", intermediary_id=ente.stations[0].intermediary_id)
    with pytest.raises(NotFound):
        svc.update_portal(db, mine, key_id, i.PortalPatch(enti=[EC, "80000000010"]))
    portal = svc.get_portal(db, svc.CLI, key_id)
    assert portal.enti == [EC] and portal.return_url_prefix == "https://portale.example.it/"
    assert _updates(db, key_id) == []


def test_a_first_notification_url_registers_an_endpoint_shown_once_and_null_stops_it(
    db, ente, monkeypatch
):
    monkeypatch.setattr(http, "_policy", http.UrlPolicy())
    second = _second_ente(db)
    key_id = _portal(db).portal.key_id
    first = svc.update_portal(
        db, svc.CLI, key_id, i.PortalPatch(notify_url="https://portale.example.it/esito")
    )
    endpoint = db.get(WebhookEndpoint, first.portal.notify_endpoint_id)
    assert first.notify_secret == endpoint.secret and endpoint.kind == "portal"
    assert endpoint.url == "https://portale.example.it/esito" and endpoint.ente_id == ente.id
    # the portal leaves its first Ente: the endpoint's future deliveries are its new Ente's
    svc.update_portal(db, svc.CLI, key_id, i.PortalPatch(enti=[SECOND_EC]))
    assert endpoint.ente_id == second.id
    stopped = svc.update_portal(db, svc.CLI, key_id, i.parse(i.PortalPatch, {"notifyUrl": None}))
    assert stopped.portal.notify_url is None and stopped.portal.notify_endpoint_id is None
    assert endpoint.deleted_at is not None  # kept, with its deliveries
    updates = _updates(db, key_id)
    assert updates[0]["after"] == {
        "notify_url": "https://portale.example.it/esito",
        "notify_key_id": endpoint.key_id,
    }
    assert updates[-1] == {
        "before": {"notify_url": "https://portale.example.it/esito",
                   "notify_key_id": endpoint.key_id},
        "after": {"notify_url": None, "notify_key_id": None},
    }  # fmt: skip
    assert endpoint.secret not in str(updates)


def test_a_new_dashboard_account_is_audited_with_before_and_after_never_its_password(db, ente):
    svc.create_operator(
        db, svc.Actor("api_key:ph_x", request_id="req-1"),
        i.OperatorInput(username="anna", password="a-long-secret", enti=[EC]),
    )  # fmt: skip
    event = db.scalar(sa.select(AuditEvent).where(AuditEvent.action == "operator.create"))
    assert event.actor == "api_key:ph_x" and event.request_id == "req-1"
    assert event.detail == {
        "before": {"username": None, "role": None, "enabled": None, "enti": None},
        "after": {"username": "anna", "role": "operator", "enabled": True, "enti": [EC]},
    }
    from hub.admin import describe
    from hub.models import OperatorAccount

    account = db.scalar(sa.select(OperatorAccount).where(OperatorAccount.username == "anna"))
    assert "a-long-secret" not in str(event.detail)
    assert account.password_hash not in str(event.detail) and "scrypt" not in str(event.detail)
    change = describe.change(event)
    assert change["before"]["role"] is None and change["after"]["role"] == "operator"
