"""axe-core on the administration pages (/ops/admin/), in Italian and English: a new portal's
secret, the overview (portals with their switch, an intermediary's rename form, recent changes),
a portal's page (its Enti and URLs) with an error, a new Ente's form with its
errors, an Ente's page (services, accounts, webhooks with their Stop button, registry, its
history of changes), a service with the preview of its form, a precomputed service with its
back-office lookup, a station, bulk onboarding with a dry-run report. No
violation of impact "serious" or "critical". The English pages are the docs' screenshots
(``PAYHUB_SCREENSHOTS=docs``, docs/operators/administration.md)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.browser.test_accessibility import check
from tests.e2e.conftest import ROOT

pytestmark = [pytest.mark.slow]

ADMIN, ADMIN_PASSWORD = "demo-admin", "demo-admin-password"


@pytest.fixture(scope="module")
def admin_account(demo):
    """An intermediary account, created with `payhub admin operator create`."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    subprocess.run(
        [sys.executable, "-m", "payhub.cli", "-c", str(demo.ini), "admin", "operator", "create",
         "--username", ADMIN, "--role", "intermediary", "--password-stdin"],
        input=ADMIN_PASSWORD + "\n", text=True, cwd=ROOT, env=env, check=True,
        capture_output=True,
    )  # fmt: skip
    return ADMIN


@pytest.mark.parametrize("lang", ["it", "en"])
def test_admin_pages_have_no_serious_accessibility_violations(
    demo, admin_account, page, axe_js, lang, tmp_path
):
    ops = f"{demo.base}/ops"
    page.goto(f"{ops}/login?lang={lang}")
    page.locator("#username").fill(ADMIN)
    page.locator("#password").fill(ADMIN_PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"{ops}/")
    # a portal (its secret shown once; on the overview with its switch and rotation)
    page.goto(f"{ops}/admin/new/portal")
    page.locator("#portal-name").fill(f"Portale {lang}")
    page.locator("#portal-enti").fill("77777777777")
    page.locator("#portal-return_url_prefix").fill("https://portale.example.it/")
    page.locator("main form.panel button[type=submit]").click()
    page.locator(".alert-success code").wait_for()
    check(page, axe_js, "portal secret")
    page.goto(f"{ops}/admin/")
    check(page, axe_js, "administration")
    page.locator("details:has(#intermediary-77777777777-name) summary").click()
    page.locator("#intermediary-77777777777-name").wait_for()
    check(page, axe_js, "administration with an intermediary's rename form")
    shoot(demo, page, lang, "1-overview")
    # the portal's page: its Enti and URLs; a refused URL shown beside its field
    page.locator(f"tr:has-text('Portale {lang}') td:first-child a").click()
    page.locator("#portal_patch-notify_url").wait_for()
    check(page, axe_js, "portal")
    page.locator("#portal_patch-notify_url").fill("https://10.0.0.1/esito")
    page.locator("main form.panel button[type=submit]").click()
    page.locator("#portal_patch-notify_url-error").wait_for()
    check(page, axe_js, "portal with an error")
    shoot(demo, page, lang, "6-portal")
    page.goto(f"{ops}/admin/new/ente")
    check(page, axe_js, "new Ente")
    page.locator("#ente-fiscal_code").fill("123")
    page.locator("main form.panel button[type=submit]").click()
    page.locator("#ente-fiscal_code-error").wait_for()
    check(page, axe_js, "new Ente with errors")
    page.goto(f"{ops}/admin/enti/77777777777")
    page.locator("details:has(#webhook-url) summary").click()
    page.locator("#webhook-url").fill(f"https://gestionale.example.it/{lang}")
    page.locator("form:has(#webhook-url) button[type=submit]").click()
    page.locator(".alert-success code").wait_for()
    page.goto(f"{ops}/admin/enti/77777777777")
    check(page, axe_js, "Ente")  # with its webhook's Stop button and the history of changes
    shoot(demo, page, lang, "2-ente")
    page.goto(f"{ops}/admin/enti/77777777777/services/OSAP1")
    page.locator("main form.panel button[value=preview]").click()
    page.locator("#preview-title").wait_for()
    check(page, axe_js, "service with preview")
    shoot(demo, page, lang, "3-service")
    page.goto(f"{ops}/admin/enti/77777777777/services/MENSA")
    page.locator("#lookup-url").fill("https://backoffice.example.it/lookup")
    page.locator("#lookup-keys").fill('[{"name": "code", "label": "Codice utente"}]')
    page.locator("form:has(#lookup-url) button[type=submit]").click()
    page.locator(".alert-success code").wait_for()
    page.goto(f"{ops}/admin/enti/77777777777/services/MENSA")
    check(page, axe_js, "precomputed service with its back-office lookup")
    shoot(demo, page, lang, "5-lookup")
    page.goto(f"{ops}/admin/stations/77777777777_01")
    check(page, axe_js, "station")
    page.goto(f"{ops}/admin/import")
    check(page, axe_js, "bulk onboarding")
    sample = tmp_path / "enti.csv"
    sample.write_text(
        "fiscal_code;name;segregation_code;stations;service_code;service_label;service_taxonomy\n"
        "80000000005;Comune Nuovo;05;77777777777_01;TARI;Tassa rifiuti;9/0101101IM/\n"
        "80000000005;;;;MENSA;Mensa;9/0201109SE\n"
        "80000000006;Comune Altro;06;77777777777_01;TARI;Tassa rifiuti;9/0101101IM/\n"
    )
    page.locator("#file").set_input_files(str(sample))
    page.locator("main form.panel button[value=check]").click()
    page.locator("main table").wait_for()
    check(page, axe_js, "bulk onboarding report")
    shoot(demo, page, lang, "4-import")


def shoot(demo, page, lang: str, name: str) -> None:
    if lang == "en":
        page.screenshot(path=str(demo.shots / f"admin-{name}.png"), full_page=True)
