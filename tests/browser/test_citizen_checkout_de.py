"""The citizen flow in German (Alto Adige/Südtirol): a browser asking for German gets German
pages without choosing; it pays the first instalment of a plan through the simulator's
Checkout, and is told in German why the pay-in-full option of the same debt cannot go in the
cart, nor be paid afterwards (plans are exclusive)."""

from __future__ import annotations

import sqlite3

import pytest

from hub.seed import SECOND_EC

pytestmark = [pytest.mark.slow]


@pytest.fixture
def german(browser):
    context = browser.new_context(
        locale="de-DE",  # Accept-Language: de-DE
        viewport={"width": 1200, "height": 900},
    )
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


def _tari(demo) -> list[str]:
    with sqlite3.connect(demo.db) as conn:
        rows = conn.execute(
            "SELECT o.notice_number FROM payment_option o JOIN debt_position p "
            "ON p.id = o.position_id WHERE p.iupd = 'TARI-2026-0001' ORDER BY o.id"
        ).fetchall()
    return [r[0] for r in rows]  # pay in full, then instalments 1..3


def test_a_german_browser_pays_an_instalment_in_german_and_is_told_why_not_the_full(demo, german):
    page = german
    full, first, *_ = _tari(demo)
    page.goto(f"{demo.base}/pay/")
    assert page.locator("html").get_attribute("lang") == "de"
    assert page.locator("h1").inner_text() == "Online mit pagoPA bezahlen"
    assert page.get_by_role("link", name="Deutsch").get_attribute("aria-current") == "true"

    page.goto(f"{demo.base}/pay/enti/{SECOND_EC}")
    page.locator("#notice_number").fill(first)
    page.get_by_role("button", name="Suchen und in den Warenkorb legen").click()
    assert (
        "Die Zahlungsmitteilung wurde in den Warenkorb gelegt." in page.locator("main").inner_text()
    )

    # the other plan of the same debt does not go in the same cart, and the page says why
    page.goto(f"{demo.base}/pay/enti/{SECOND_EC}")
    page.locator("#notice_number").fill(full)
    page.get_by_role("button", name="Suchen und in den Warenkorb legen").click()
    assert (
        "eine andere Art, diese Schuld zu bezahlen"
        in page.locator("#notice_number-error").inner_text()
    )

    page.goto(f"{demo.base}/pay/cart")
    assert page.locator("h1").inner_text() == "Ihr Warenkorb"
    assert "€\xa0100,00" in page.locator("tfoot").inner_text()
    page.get_by_role("button", name="Mit pagoPA bezahlen").click()
    page.wait_for_url("**/sim/checkout/c/**")
    page.get_by_role("button", name="Paga").click()

    page.wait_for_url("**/pay/carts/**")
    page.get_by_text("Zahlung abgeschlossen.").wait_for(timeout=30_000)
    assert "Bezahlt" in page.locator("tbody").inner_text()
    page.screenshot(path=str(demo.shots / "7-outcome-de.png"), full_page=True)

    # once an instalment is paid, pay in full is refused, in German, saying why
    page.goto(f"{demo.base}/pay/enti/{SECOND_EC}")
    page.locator("#notice_number").fill(full)
    page.get_by_role("button", name="Suchen und in den Warenkorb legen").click()
    assert "bereits auf andere Weise bezahlt" in page.locator("#notice_number-error").inner_text()

    # the switch on every page: Italian on request, kept for the next page
    page.goto(f"{demo.base}/pay/cart")
    page.get_by_role("link", name="Italiano").click()
    assert page.locator("html").get_attribute("lang") == "it"
    page.goto(f"{demo.base}/pay/")
    assert page.locator("h1").inner_text() == "Paga online con pagoPA"
