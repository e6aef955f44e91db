"""axe-core on the /ops/ pages: no violation of impact "serious" or "critical" on the login
form (with its error), the Enti, an Ente's dashboard, the search with results, a payment, the
flows, the bank credits with the upload form, stuck payments, anomalies and the ACA feed."""

from __future__ import annotations

import pytest

from hub.seed import DEMO_SUPPORT, DEMO_SUPPORT_PASSWORD
from tests.browser.test_accessibility import check

pytestmark = [pytest.mark.slow]


@pytest.mark.parametrize("lang", ["it", "en"])
def test_ops_pages_have_no_serious_accessibility_violations(demo, page, axe_js, lang):
    ops = f"{demo.base}/ops"
    page.goto(f"{ops}/login?lang={lang}")
    check(page, axe_js, "login")
    page.locator("#username").fill(DEMO_SUPPORT)
    page.locator("#password").fill("wrong-password")
    page.locator("main form button[type=submit]").click()
    page.locator("#login-error").wait_for()
    check(page, axe_js, "login with error")
    page.locator("#password").fill(DEMO_SUPPORT_PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"{ops}/")
    check(page, axe_js, "Enti")
    page.goto(f"{ops}/enti/77777777777/")
    page.locator("#auto-refresh").wait_for()  # the script shows the box
    check(page, axe_js, "dashboard")
    shoot(demo, page, lang, "1-dashboard")
    page.goto(f"{ops}/enti/77777777777/search")
    page.locator("#debtor_fiscal_code").fill("RSSMRA80A01H501U")
    page.locator("main form.panel button[type=submit]").first.click()
    page.locator("#results").wait_for()
    check(page, axe_js, "search results")
    page.locator("tbody a").first.click()
    page.locator("#h-history").wait_for()
    check(page, axe_js, "payment")
    page.goto(f"{ops}/enti/77777777777/search?state=paid")
    page.locator("tbody a").first.click()
    page.locator("#h-history").wait_for()
    check(page, axe_js, "paid payment")
    shoot(demo, page, lang, "2-payment")
    for path, what in (
        ("enti/77777777777/flows", "flows"),
        ("enti/77777777777/credits", "credits"),
        ("support/stuck", "stuck payments"),
        ("support/anomalies", "anomalies"),
        ("support/daily-files", "daily files not received, deliveries given up"),
        ("enti/77777777777/aca", "ACA feed with its bulk uploads"),
    ):
        page.goto(f"{ops}/{path}")
        check(page, axe_js, what)
        if what == "anomalies":
            shoot(demo, page, lang, "3-anomalies")


def shoot(demo, page, lang: str, name: str) -> None:
    """The English pages, for the README (``PAYHUB_SCREENSHOTS=docs``)."""
    if lang == "en":
        page.screenshot(path=str(demo.shots / f"ops-{name}.png"), full_page=True)
