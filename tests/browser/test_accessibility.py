"""axe-core on the citizen pages: no violation of impact "serious" or "critical" (WCAG 2.1 A and
AA rules plus axe's best practices) on the catalogue, an Ente, a service form showing errors,
the cart, the return page in progress and paid, and the level-1 confirmation page."""

from __future__ import annotations

import json
import sqlite3

import pytest

pytestmark = [pytest.mark.slow]

TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
SANP_NOTICE = "311111111112222222"


def serious_violations(page, axe_js: str) -> list[dict]:
    """axe's violations of impact serious or critical on the page as it is now."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=axe_js)
    result = page.evaluate(
        "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})", TAGS
    )
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
        }
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def check(page, axe_js: str, what: str) -> None:
    found = serious_violations(page, axe_js)
    assert not found, f"{what}: {json.dumps(found, indent=1)}"


@pytest.mark.parametrize("lang", ["it", "en"])
def test_citizen_pages_have_no_serious_accessibility_violations(demo, page, axe_js, lang):
    page.goto(f"{demo.base}/pay/?lang={lang}")
    check(page, axe_js, "catalogue")
    page.goto(f"{demo.base}/pay/enti/77777777777")
    check(page, axe_js, "Ente page")

    # a precomputed notice (once: then it is paid) and a spontaneous form, errors first
    if lang == "it":
        page.locator("#notice_number").fill(SANP_NOTICE)
        page.locator("#notice_number").press("Enter")
        page.wait_for_url("**/pay/cart")
    page.goto(f"{demo.base}/pay/enti/77777777777/services/OSAP1")
    check(page, axe_js, "service form")
    page.locator("form.panel button[type=submit]").click()
    page.locator("#address-error").wait_for()
    check(page, axe_js, "service form with errors")
    page.locator("#address").fill("Via Roma 1")
    page.locator("#amount").fill("12,50")
    page.locator("#payer_fiscal_code").fill("RSSMRA80A01H501U")
    page.locator("#payer_name").fill("Mario Rossi")
    page.locator("form.panel button[type=submit]").click()
    page.wait_for_url("**/pay/cart")
    check(page, axe_js, "cart")

    # Checkout opened, nothing paid yet: the return page says "in progress"
    page.locator("form.panel button[type=submit]").click()
    page.wait_for_url("**/sim/checkout/c/**")
    with sqlite3.connect(demo.db) as conn:
        cart_id = conn.execute(
            "SELECT public_id FROM checkout_cart WHERE status = 'submitted' "
            "ORDER BY id DESC LIMIT 1"
        ).fetchone()[0]
    status_url = f"{demo.base}/pay/carts/{cart_id}"
    checkout_url = page.url
    page.goto(status_url)
    assert page.locator(".outcome-progress").count() == 1
    check(page, axe_js, "return page, in progress")

    page.goto(checkout_url)
    page.get_by_role("button", name="Paga").click()
    page.wait_for_url("**/pay/carts/**")
    page.locator(".outcome-paid").wait_for(timeout=30_000)
    check(page, axe_js, "return page, paid")


def test_level1_confirmation_page_has_no_serious_accessibility_violations(demo, page, axe_js):
    from hub.checkout.level1 import register_portal, start_payment
    from hub.db import make_engine, make_session_factory

    engine = make_engine(f"sqlite:///{demo.db}")
    with make_session_factory(engine).begin() as session:
        portal = register_portal(
            session, "Portale di prova", ["00112233445"], "https://portal.example/"
        ).portal
        with sqlite3.connect(demo.db) as conn:
            code = conn.execute(
                "SELECT s.code FROM payment_service s JOIN ente e ON e.id = s.ente_id "
                "WHERE e.fiscal_code = '00112233445' AND s.kind = 'spontaneous' "
                "AND s.active ORDER BY s.code"
            ).fetchone()[0]
        cart, _ = start_payment(
            session,
            portal,
            {
                "externalId": "axe-1",
                "returnUrl": "https://portal.example/back",
                "items": [
                    {
                        "enteFiscalCode": "00112233445",
                        "service": code,
                        "amount": "10.00",
                        "description": "Diritti di segreteria",
                        "payer": {"fiscalCode": "RSSMRA80A01H501U", "name": "Mario Rossi"},
                    }
                ],
            },
        )
        payment_id = cart.public_id
    engine.dispose()
    page.goto(f"{demo.base}/pay/l1/{payment_id}")
    assert page.locator("h1").count() == 1
    check(page, axe_js, "level-1 confirmation")


def test_the_check_finds_serious_violations_when_there_are_some(page, axe_js):
    """The harness itself: a page with poor contrast, an unlabelled field and no lang."""
    page.set_content(
        "<html><head><title>x</title></head><body><main>"
        '<p style="color:#bbb;background:#fff">pale text</p>'
        '<input type="text" name="q"></main></body></html>'
    )
    found = {v["id"] for v in serious_violations(page, axe_js)}
    assert {"color-contrast", "label", "html-has-lang"} <= found


def test_back_office_lookup_form_has_no_serious_accessibility_violations(
    demo, page, axe_js, local_targets
):
    """A traffic fine searched by report number and plate, the back-office down."""
    import sqlalchemy as sa

    from hub.checkout import register_lookup
    from hub.db import make_engine, make_session_factory
    from hub.models import PaymentService

    engine = make_engine(f"sqlite:///{demo.db}")
    with make_session_factory(engine).begin() as session:
        service = session.scalars(
            sa.select(PaymentService).where(PaymentService.code == "CDS")
        ).one()
        register_lookup(
            session,
            service,
            "http://127.0.0.1:9/lookup",
            [
                {
                    "name": "report_number",
                    "label": {"it": "Numero del verbale", "en": "Report number"},
                    "help": {"it": "Es. 123/2026", "en": "E.g. 123/2026"},
                },
                {"name": "plate", "label": {"it": "Targa", "en": "Number plate"}},
            ],
            timeout_seconds=1,
        )
    engine.dispose()
    page.goto(f"{demo.base}/pay/enti/77777777777/services/CDS?lang=it")
    check(page, axe_js, "lookup form")
    page.locator("form.panel button[type=submit]").click()
    page.locator("#plate-error").wait_for()
    check(page, axe_js, "lookup form with errors")
    page.locator("#report_number").fill("123/2026")
    page.locator("#plate").fill("AB123CD")
    page.locator("form.panel button[type=submit]").click()
    page.get_by_text("non risponde in questo momento").wait_for()
    check(page, axe_js, "lookup form, back-office down")
