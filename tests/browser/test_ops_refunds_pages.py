"""A refund case in the browser: support opens it on a citizen's request and hands it over,
the Ente's operator approves it and orders the transfer; axe-core finds no serious violation on
the pages; the case page is the docs' screenshot (``PAYHUB_SCREENSHOTS=docs``)."""

from __future__ import annotations

import sqlite3

import pytest

from hub.seed import DEMO_OPERATOR, DEMO_OPERATOR_PASSWORD, DEMO_SUPPORT, DEMO_SUPPORT_PASSWORD
from tests.browser.test_accessibility import check

pytestmark = [pytest.mark.slow]


def _login(page, ops: str, username: str, password: str) -> None:
    page.goto(f"{ops}/login?lang=en")
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(lambda url: "/login" not in url)


def test_a_refund_case_from_the_citizens_request_to_the_ordered_transfer(
    demo, browser, page, axe_js
):
    with sqlite3.connect(demo.db) as db:
        (notice,) = db.execute(
            "SELECT notice_number FROM payment_option WHERE status = 'paid' LIMIT 1"
        ).fetchone()
    ops = f"{demo.base}/ops"
    _login(page, ops, DEMO_SUPPORT, DEMO_SUPPORT_PASSWORD)
    page.goto(f"{ops}/support/refunds/new")
    check(page, axe_js, "new refund case")
    page.locator("#ente").select_option("77777777777")
    page.locator("#notice_number").fill(notice)
    page.locator("#amount").fill("12,00")
    page.locator("#note").fill("The citizen paid at the counter as well")
    page.get_by_role("button", name="Open the case").click()
    page.get_by_role("button", name="Hand to the body for its decision").click()
    assert "handed to the body" in page.locator("main").inner_text()

    operator = browser.new_context(
        locale="en-GB", viewport={"width": 1200, "height": 900}, bypass_csp=True
    ).new_page()
    _login(operator, ops, DEMO_OPERATOR, DEMO_OPERATOR_PASSWORD)
    operator.goto(f"{ops}/refunds")
    check(operator, axe_js, "refund cases")
    operator.get_by_role("link", name="Open").first.click()
    operator.get_by_role("button", name="Approve the refund").click()
    operator.locator("#payer_iban").fill("IT60 X054 2811 1010 0000 0123 456")
    operator.get_by_role("button", name="Order the bank transfer").click()
    text = operator.locator("main").inner_text()
    assert "Refund case: transfer ordered" in text
    assert "IT60X0542811101000000123456" in text and "ops:demo-operator" in text
    check(operator, axe_js, "refund case")
    operator.screenshot(path=str(demo.shots / "ops-4-refund.png"), full_page=True)
    operator.context.close()
