"""The administration pages (/ops/admin/): only the "intermediary" role reaches them; a new
station, Ente, service (with the preview of its form), account and portal are created through
their forms; an intermediary is renamed on the overview; a portal's Enti and URLs are changed on
its page; a bad value is shown beside its field in the page's language; changes are audited;
bulk onboarding checks first, then loads."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hub.models import AuditEvent, Ente, Level1Portal, PaymentService, Station, WebhookEndpoint
from hub.seed import DEMO_BROKER, DEMO_EC, DEMO_STATION, SECOND_EC
from hub.tenants import operators

pytestmark = [pytest.mark.pg]

ADMIN, ADMIN_PASSWORD = "platform-admin", "platform-admin-pw"
NEW_EC = "80000000005"


@pytest.fixture
def admin(ops):
    with ops.factory.begin() as session:
        operators.create_account(session, ADMIN, ADMIN_PASSWORD, role="intermediary")
    ops.login(ADMIN, ADMIN_PASSWORD, status=303)
    return ops


def test_only_the_intermediary_role_reaches_the_administration(ops):
    ops.login()  # the demo operator
    assert ops.app.get("/ops/admin/", status="*").status_int in (403, 404)
    ops.app.post(
        "/ops/logout", {"csrf_token": ops.csrf()}, headers={"Referer": "https://payhub.test/ops/"}
    )
    ops.login("demo-support")
    assert ops.app.get("/ops/admin/", status="*").status_int in (403, 404)


def test_an_ente_with_a_service_and_its_operator_are_created_through_the_pages(admin):
    page = admin.app.get("/ops/admin/")
    assert DEMO_STATION in page.text and DEMO_EC in page.text
    assert "Intermediario tecnologico demo (77777777777)" in page.text
    created = admin.post(
        "/ops/admin/new/ente",
        {"fiscal_code": NEW_EC, "name": "Comune Nuovo", "segregation_code": "05",
         "stations": DEMO_STATION, "iban": "IT60X0542811101000000123456",
         "referente_name": "Carla", "referente_email": "carla@nuovo.example.it"},
        status=303,
    )  # fmt: skip
    assert created.location.endswith(f"/ops/admin/enti/{NEW_EC}")
    admin.post(
        f"/ops/admin/enti/{NEW_EC}/service",
        {"code": "PASSO", "label": "Passo carrabile", "taxonomy": "9/0101106TS/",
         "kind": "spontaneous", "active": "on"},
        status=303,
    )  # fmt: skip
    ente_page = admin.app.get(f"/ops/admin/enti/{NEW_EC}")
    assert "Passo carrabile" in ente_page.text and "IT60X0542811101000000123456" in ente_page.text
    form = (
        '{"fields": [{"name": "plate", "label": {"it": "Targa", "en": "Plate"}, "required": true}]}'
    )
    preview = admin.post(
        f"/ops/admin/enti/{NEW_EC}/services/PASSO",
        {"label": "Passo carrabile", "taxonomy": "9/0101106TS/", "kind": "spontaneous",
         "active": "on", "form": form, "action": "preview"},
        status=200,
    )  # fmt: skip
    assert preview.html.select_one("#preview-plate") is not None and "Plate" in preview.text
    admin.post(
        f"/ops/admin/enti/{NEW_EC}/services/PASSO",
        {"label": "Passo carrabile", "taxonomy": "9/0101106TS/", "kind": "spontaneous",
         "active": "on", "form": form},
        status=303,
    )  # fmt: skip
    admin.post(
        "/ops/admin/new/operator",
        {"username": "nuovo-op", "password": "nuovo-op-password", "role": "operator",
         "enti": NEW_EC},
        status=303,
    )  # fmt: skip
    with admin.factory() as session:
        service = session.scalar(sa.select(PaymentService).where(PaymentService.code == "PASSO"))
        assert service.form["fields"][0]["name"] == "plate"
        actors = set(
            session.scalars(sa.select(AuditEvent.actor).where(AuditEvent.action.like("admin.%")))
        )
    assert f"ops:{ADMIN}" in actors


def test_the_forms_carry_the_sessions_csrf_token(admin):
    page = admin.app.get("/ops/admin/new/station")
    form = page.forms[0] if page.forms[0].action.endswith("/new/station") else page.forms[1]
    assert form["csrf_token"].value == admin.csrf()
    form["station_code"] = "77777777777_09"
    form["broker_code"] = "77777777777"
    assert form.submit(headers={"Referer": "https://payhub.test/ops/"}).status_int == 303
    ente = admin.app.get(f"/ops/admin/enti/{DEMO_EC}")
    assert all(f["csrf_token"].value == admin.csrf() for f in ente.forms.values())


def test_a_bad_value_is_shown_beside_its_field_and_nothing_is_saved(admin):
    page = admin.post(
        "/ops/admin/new/ente",
        {"fiscal_code": "123", "name": "X", "segregation_code": "05", "stations": DEMO_STATION},
        status=200,
    )
    error = page.html.select_one("#ente-fiscal_code-error")
    assert error is not None and "expected format" in error.text
    italian = admin.post(
        "/ops/admin/new/ente?lang=it",
        {"fiscal_code": "123", "segregation_code": "05", "stations": DEMO_STATION},
        status=200,
    )
    assert "formato atteso" in italian.html.select_one("#ente-fiscal_code-error").text
    assert "obbligatorio" in italian.html.select_one("#ente-name-error").text
    assert page.html.select_one("#ente-fiscal_code")["aria-invalid"] == "true"
    taken = admin.post(
        "/ops/admin/new/ente",
        {"fiscal_code": NEW_EC, "name": "X", "segregation_code": "01", "stations": DEMO_STATION},
        status=200,
    )
    assert "segregation code 01" in taken.text
    with admin.factory() as session:
        assert session.scalar(sa.select(Ente).where(Ente.fiscal_code == NEW_EC)) is None


def test_bulk_onboarding_page_checks_then_loads(admin):
    csv_text = (
        "fiscal_code;name;segregation_code;stations;service_code;service_label;service_taxonomy\n"
        f"{NEW_EC};Comune Nuovo;05;{DEMO_STATION};TARI;Tassa rifiuti;9/0101101IM/\n"
    ).encode()
    checked = admin.app.post(
        "/ops/admin/import",
        {"csrf_token": admin.csrf(), "action": "check"},
        upload_files=[("file", "enti.csv", csv_text)],
        headers={"Referer": "https://payhub.test/ops/"},
    )
    assert "Dry run" in checked.text and checked.html.select("tbody tr")
    with admin.factory() as session:
        assert session.scalar(sa.select(Ente).where(Ente.fiscal_code == NEW_EC)) is None
    admin.app.post(
        "/ops/admin/import",
        {"csrf_token": admin.csrf(), "action": "load"},
        upload_files=[("file", "enti.csv", csv_text)],
        headers={"Referer": "https://payhub.test/ops/"},
    )
    with admin.factory() as session:
        assert session.scalar(sa.select(Ente).where(Ente.fiscal_code == NEW_EC)) is not None


def test_the_pages_speak_italian_and_english(admin):
    italian = admin.app.get("/ops/admin/?lang=it")
    assert "Amministrazione" in italian.text and "Nuovo ente" in italian.text
    assert "Rinomina" in italian.text  # an intermediary's rename
    form = admin.app.get("/ops/admin/new/station?lang=it")
    assert "Versione delle primitive" in form.text
    english = admin.app.get("/ops/admin/?lang=en")
    assert "New body" in english.text and "Bulk onboarding" in english.text


def test_a_logo_is_uploaded_refused_when_not_an_image_and_removed(admin):
    from tests.hub.printing.test_printing_logo import _png

    def upload(name: str, content: bytes, **fields):
        return admin.app.post(
            f"/ops/admin/enti/{DEMO_EC}/logo",
            {"csrf_token": admin.csrf(), **fields},
            upload_files=[("logo", name, content)],
            headers={"Referer": "https://payhub.test/ops/"},
            status=303,
        )

    upload("logo.png", _png())
    assert "A logo is printed" in admin.app.get(f"/ops/admin/enti/{DEMO_EC}").text
    refused = upload("logo.png", b"not an image").follow()
    assert refused.html.select_one(".alert-danger") is not None
    upload("logo.png", b"", clear="1")
    with admin.factory() as session:
        assert session.scalar(sa.select(Ente).where(Ente.fiscal_code == DEMO_EC)).logo is None
        actions = session.scalars(
            sa.select(AuditEvent.action).where(AuditEvent.action == "admin.ente.logo")
        ).all()
    assert len(actions) == 2  # set, removed (the refused file changed nothing)


def test_a_test_station_is_created_from_the_form(admin):
    page = admin.app.get("/ops/admin/new/station")
    form = page.forms[0] if page.forms[0].action.endswith("/new/station") else page.forms[1]
    form["station_code"] = "77777777777_08"
    form["broker_code"] = "77777777777"
    form["test"] = True
    assert form.submit(headers={"Referer": "https://payhub.test/ops/"}).status_int == 303
    with admin.factory() as session:
        station = session.scalars(
            sa.select(Station).where(Station.station_code == "77777777777_08")
        ).one()
        assert station.test is True


def test_a_portal_is_switched_off_and_on_and_its_secret_rotated_from_the_overview(admin):
    created = admin.post(
        "/ops/admin/new/portal",
        {"name": "Portale", "enti": DEMO_EC, "return_url_prefix": "https://portale.example.it/"},
        status=200,
    )
    first = created.html.select_one(".alert-success code").text
    with admin.factory() as session:
        portal = session.scalar(sa.select(Level1Portal))
        key_id = portal.key_id
    admin.post(f"/ops/admin/portals/{key_id}", {"action": "off"}, status=303)
    overview = admin.app.get("/ops/admin/")
    row = next(r for r in overview.html.select("tr") if key_id in r.text)
    assert row.select_one("button[value=on]") is not None  # off: it can be switched on
    rotated = admin.post(f"/ops/admin/portals/{key_id}", {"action": "rotate"}, status=200)
    second = rotated.html.select_one(".alert-success code").text
    admin.post(f"/ops/admin/portals/{key_id}", {"action": "on"}, status=303)
    with admin.factory() as session:
        portal = session.scalar(sa.select(Level1Portal).where(Level1Portal.key_id == key_id))
        assert portal.active is True and portal.secret == second != first
        actions = session.scalars(
            sa.select(AuditEvent.action)
            .where(AuditEvent.target == f"portal:{key_id}")
            .order_by(AuditEvent.id)
        ).all()
    assert actions == [
        "admin.portal.create",
        "admin.portal.update",
        "admin.portal.rotate",
        "admin.portal.update",
    ]


def test_a_payer_portal_is_registered_with_its_own_keys_and_offers_no_rotation(admin):
    created = admin.post(
        "/ops/admin/new/portal",
        {"name": "Portale PayER", "enti": DEMO_EC, "return_url_prefix": "https://payer.example.it/",
         "legacy_buffer": "on", "legacy_code": "PORTALE07", "legacy_iv": "iv-7",
         "legacy_key": "key-7"},
        status=303,
    )  # fmt: skip
    overview = created.follow()
    row = next(r for r in overview.html.select("tr") if "payer:PORTALE07" in r.text)
    assert row.select_one("button[value=rotate]") is None and "key-7" not in overview.text
    refused = admin.post("/ops/admin/portals/payer:PORTALE07", {"action": "rotate"}, status=303)
    assert refused.follow().html.select_one(".alert-danger") is not None
    missing = admin.post(
        "/ops/admin/new/portal",
        {"name": "P", "enti": DEMO_EC, "return_url_prefix": "https://payer.example.it/",
         "legacy_buffer": "on"},
        status=200,
    )  # fmt: skip
    assert "PortaleID" in missing.text


def test_a_webhook_endpoint_is_stopped_from_the_ente_page(admin):
    admin.post(f"/ops/admin/enti/{DEMO_EC}/webhook", {"url": "https://gestionale.example.it/h"},
               status=200)  # fmt: skip
    page = admin.app.get(f"/ops/admin/enti/{DEMO_EC}")
    action = next(
        f.action for f in page.forms.values() if f.action and f.action.endswith("/delete")
    )
    admin.post(action, {}, status=303)
    page = admin.app.get(f"/ops/admin/enti/{DEMO_EC}")
    with admin.factory() as session:
        endpoint = session.scalar(sa.select(WebhookEndpoint))
        assert endpoint.deleted_at is not None  # kept, with its deliveries, but stopped
        assert session.scalar(
            sa.select(AuditEvent.detail).where(AuditEvent.action == "admin.webhook.delete")
        ) == {"before": {"url": "https://gestionale.example.it/h"}, "after": {"url": None}}
    webhooks = page.html.find("h2", string="Webhook endpoints").find_next("table")
    assert "gestionale.example.it/h" not in webhooks.text


def test_a_back_office_lookup_is_set_from_the_service_page_its_secret_shown_once(admin):
    page = admin.app.get(f"/ops/admin/enti/{DEMO_EC}/services/MENSA")
    assert page.html.select_one("#lookup-url") is not None
    refused = admin.post(
        f"/ops/admin/enti/{DEMO_EC}/services/MENSA/lookup",
        {"url": "https://backoffice.example.it/lookup", "keys": "not json"},
        status=200,
    )
    assert refused.html.select_one("#lookup-keys-error") is not None
    done = admin.post(
        f"/ops/admin/enti/{DEMO_EC}/services/MENSA/lookup",
        {"url": "https://backoffice.example.it/lookup", "timeout_seconds": "3",
         "keys": '[{"name": "code", "label": "Codice utente"}]'},
        status=200,
    )  # fmt: skip
    secret = done.html.select_one(".alert-success code").text
    assert len(secret) > 20
    page = admin.app.get(f"/ops/admin/enti/{DEMO_EC}/services/MENSA")
    assert page.html.select_one("#lookup-url")["value"] == "https://backoffice.example.it/lookup"
    assert secret not in page.text
    # a spontaneous service has no lookup
    spontaneous = admin.app.get(f"/ops/admin/enti/{DEMO_EC}/services/OSAP1")
    assert spontaneous.html.select_one("#lookup-url") is None


def test_the_history_of_changes_is_shown_with_before_and_after(admin):
    page = admin.app.get(f"/ops/admin/enti/{DEMO_EC}")
    form = next(f for f in page.forms.values() if f.action == f"/ops/admin/enti/{DEMO_EC}")
    form["name"] = "Comune di Demo Nuovo"
    assert form.submit(headers={"Referer": "https://payhub.test/ops/"}).status_int == 303
    page = admin.app.get(f"/ops/admin/enti/{DEMO_EC}")
    first = page.html.select("tr.change")[0]
    assert f"ops:{ADMIN}" in first.text and "admin.ente.update" in first.text
    cells = first.select("td")
    assert "name: Comune di Demo" in cells[3].text and "name: Comune di Demo Nuovo" in cells[4].text
    # the created Ente's own creation is there too, by the seed
    assert any(
        "seed" in r.text and "admin.ente.create" in r.text for r in page.html.select("tr.change")
    )
    overview = admin.app.get("/ops/admin/")
    assert "admin.ente.update" in overview.html.select("tr.change")[0].text


def test_an_intermediary_is_renamed_from_the_overview(admin):
    overview = admin.app.get("/ops/admin/")
    form = next(
        f for f in overview.forms.values() if f.action == f"/ops/admin/intermediaries/{DEMO_BROKER}"
    )
    assert form["name"].value == "Intermediario tecnologico demo"
    assert form["csrf_token"].value == admin.csrf()
    form["name"] = "Intermediario Emilia"
    done = form.submit(headers={"Referer": "https://payhub.test/ops/"})
    assert done.status_int == 303
    assert "Intermediario Emilia (77777777777)" in done.follow().text
    # left empty: refused beside the field, in the page's language; the name is kept
    empty = admin.post(f"/ops/admin/intermediaries/{DEMO_BROKER}?lang=it", {"name": " "},
                       status=200)  # fmt: skip
    error = empty.html.select_one("#intermediary_patch-name-error")
    assert error is not None and error.text == "Nome è obbligatorio"
    assert empty.html.select_one("#intermediary_patch-name")["aria-invalid"] == "true"
    admin.app.get("/ops/admin/intermediaries/80000000099", status=404)
    with admin.factory() as session:
        event = session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "admin.intermediary.update")
        ).one()
        assert event.actor == f"ops:{ADMIN}" and event.target == f"intermediary:{DEMO_BROKER}"
        assert event.detail == {
            "before": {"name": "Intermediario tecnologico demo"},
            "after": {"name": "Intermediario Emilia"},
        }


def test_a_portals_enti_and_urls_are_changed_on_its_page(admin):
    admin.post(
        "/ops/admin/new/portal",
        {"name": "Portale", "enti": DEMO_EC, "return_url_prefix": "https://portale.example.it/"},
        status=200,
    )
    with admin.factory() as session:
        key_id = session.scalar(sa.select(Level1Portal.key_id))
    overview = admin.app.get("/ops/admin/")
    link = overview.html.select_one(f'a[href="/ops/admin/portals/{key_id}"]')
    assert link is not None and link.text == key_id
    page = admin.app.get(f"/ops/admin/portals/{key_id}")
    assert page.html.select_one("#portal_patch-return_url_prefix")["value"] == (
        "https://portale.example.it/"
    )
    assert page.html.select_one("#portal_patch-enti").text.strip() == DEMO_EC
    # a required field left empty, a notification URL in a private network: each refused
    # beside its field, nothing changed
    emptied = admin.post(
        f"/ops/admin/portals/{key_id}",
        {"name": "Portale", "enti": " ", "return_url_prefix": "", "notify_url": ""},
        status=200,
    )
    assert emptied.html.select_one("#portal_patch-enti-error").text == "Bodies is required"
    assert emptied.html.select_one("#portal_patch-return_url_prefix-error") is not None
    refused = admin.post(
        f"/ops/admin/portals/{key_id}",
        {"name": "Portale", "enti": f"{DEMO_EC}\n{SECOND_EC}",
         "return_url_prefix": "https://pagamenti.example.it/",
         "notify_url": "https://10.0.0.1/esito"},
        status=200,
    )  # fmt: skip
    assert "refused" in refused.html.select_one("#portal_patch-notify_url-error").text
    # the Enti and both URLs changed: the first notification URL's secret shown once
    done = admin.post(
        f"/ops/admin/portals/{key_id}",
        {"name": "Portale Unione", "enti": f"{DEMO_EC}\n{SECOND_EC}",
         "return_url_prefix": "https://pagamenti.example.it/",
         "notify_url": "https://pagamenti.example.it/esito"},
        status=200,
    )  # fmt: skip
    secret = done.html.select_one(".alert-success code").text
    assert secret.startswith("whsec_")
    page = admin.app.get(f"/ops/admin/portals/{key_id}")
    assert secret not in page.text
    # the notification URL emptied: no more notifications
    admin.post(
        f"/ops/admin/portals/{key_id}",
        {"name": "Portale Unione", "enti": f"{DEMO_EC}\n{SECOND_EC}",
         "return_url_prefix": "https://pagamenti.example.it/", "notify_url": ""},
        status=303,
    )  # fmt: skip
    with admin.factory() as session:
        portal = session.scalar(sa.select(Level1Portal).where(Level1Portal.key_id == key_id))
        assert (portal.name, portal.enti, portal.return_url_prefix, portal.notify_url) == (
            "Portale Unione", [SECOND_EC, DEMO_EC], "https://pagamenti.example.it/", None
        )  # fmt: skip
        endpoint = session.scalar(
            sa.select(WebhookEndpoint).where(WebhookEndpoint.kind == "portal")
        )
        assert endpoint.deleted_at is not None
        events = session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.action == "admin.portal.update")
            .order_by(AuditEvent.id)
        ).all()
    assert [e.actor for e in events] == [f"ops:{ADMIN}"] * 2
    assert events[0].detail["before"]["enti"] == [DEMO_EC]
    assert events[0].detail["after"]["enti"] == [SECOND_EC, DEMO_EC]  # kept sorted
    assert events[1].detail["after"]["notify_url"] is None
    assert secret not in str(events[0].detail)
