"""A citizen pays a spontaneous and a precomputed payment in one cart through the simulator's
Checkout and sees the outcome; an Ente portal sends a citizen to pay (level 1) and gets the
outcome back with exactly one valid notification."""

from __future__ import annotations

import sqlite3
import sys
import threading
import time
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest

from tests.e2e.conftest import ROOT, free_port, wait_for

pytestmark = [pytest.mark.slow]

SANP_NOTICE = "311111111112222222"


def test_citizen_pays_a_spontaneous_and_a_precomputed_payment_in_one_cart(demo, page):
    page.goto(f"{demo.base}/pay/?lang=it")
    assert page.locator("h1").inner_text() == "Paga online con pagoPA"
    page.screenshot(path=str(demo.shots / "1-catalogue.png"), full_page=True)
    page.get_by_role("link", name="Comune di Demo").click()
    page.screenshot(path=str(demo.shots / "2-ente.png"), full_page=True)

    # precomputed: the SANP notice, found in our archive by its number
    page.get_by_label("Codice avviso").fill(SANP_NOTICE)
    page.get_by_role("button", name="Cerca e aggiungi al carrello").click()
    assert "L'avviso è stato aggiunto al carrello." in page.locator("main").inner_text()

    # spontaneous: a form built from the service's definition; errors first
    page.goto(f"{demo.base}/pay/enti/77777777777/services/OSAP1")
    page.get_by_role("button", name="Aggiungi al carrello").click()
    assert page.locator("#address-error").inner_text() == "Questo campo è obbligatorio."
    page.get_by_label("Indirizzo").fill("Via Roma 1")
    page.get_by_label("Importo in euro").fill("12,50")
    page.get_by_label("Codice fiscale o partita IVA").fill("RSSMRA80A01H501X")
    page.get_by_label("Nome e cognome, o ragione sociale").fill("Mario Rossi")
    page.get_by_role("button", name="Aggiungi al carrello").click()
    assert page.locator("#payer_fiscal_code-error").is_visible()
    page.screenshot(path=str(demo.shots / "3-form-errors.png"), full_page=True)
    page.get_by_label("Codice fiscale o partita IVA").fill("RSSMRA80A01H501U")
    page.get_by_role("button", name="Aggiungi al carrello").click()

    # the cart: both payments, the total, fees explained
    assert page.locator("h1").inner_text() == "Il tuo carrello"
    assert "€\xa042,50" in page.locator("tfoot").inner_text()
    assert "commissione" in page.locator("main").inner_text()
    page.screenshot(path=str(demo.shots / "4-cart.png"), full_page=True)
    page.get_by_role("button", name="Paga con pagoPA").click()

    # the simulator's Checkout: choose the first PSP offer and pay
    page.wait_for_url("**/sim/checkout/c/**")
    page.screenshot(path=str(demo.shots / "5-checkout-simulator.png"), full_page=True)
    page.get_by_role("button", name="Paga").click()

    # back on payhub: the outcome comes from the receipts in our database
    page.wait_for_url("**/pay/carts/**")
    page.get_by_text("Pagamento completato.").wait_for(timeout=30_000)
    page.screenshot(path=str(demo.shots / "6-outcome.png"), full_page=True)
    with page.expect_download() as download:
        page.get_by_role("link", name="Scarica la ricevuta (PDF)").click()
    assert download.value.suggested_filename.endswith(".pdf")
    with sqlite3.connect(demo.db) as conn:
        rows = conn.execute(
            "SELECT o.status FROM checkout_cart_item i JOIN payment_option o ON o.id = i.option_id"
        ).fetchall()
        receipts = conn.execute(
            "SELECT count(*) FROM receipt WHERE receipt_id != 'seed-receipt-0001'"
        ).fetchone()[0]
    assert sorted(r[0] for r in rows) == ["paid", "paid"] and receipts == 2


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def _run_portal(demo, page, *, notify: bool):
    sys.path.insert(0, str(ROOT / "examples" / "portal"))
    try:
        from payhub_client import PayhubClient
        from portal import Portal, ThreadingWSGIServer
    finally:
        sys.path.pop(0)
    from hub.checkout.level1 import register_portal
    from hub.db import make_engine, make_session_factory

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    engine = make_engine(f"sqlite:///{demo.db}")
    with make_session_factory(engine).begin() as session:
        done = register_portal(
            session,
            "Portale di esempio",
            ["00112233445"],
            url + "/",
            notify_url=url + "/notify" if notify else None,
        )
        key_id, secret, notify_secret = done.portal.key_id, done.secret, done.notify_secret
    engine.dispose()
    portal = Portal(PayhubClient(demo.base, key_id, secret, notify_secret), url)
    server = make_server(
        "127.0.0.1", port, portal, server_class=ThreadingWSGIServer, handler_class=_Quiet
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        page.goto(url + "/")
        page.get_by_role("button", name="Paga con pagoPA").click()
        page.wait_for_url("**/sim/checkout/c/**")
        page.get_by_role("button", name="Paga").click()
        page.wait_for_url(f"{url}/return?outcome=*")
        assert page.locator("#outcome").inner_text() == "paid"
        assert portal.outcomes[0]["items"][0]["paid"] is True
        if notify:
            wait_for(lambda: portal.notifications, 30, "the portal's notification")
            time.sleep(1)  # nothing more may arrive
            [note] = portal.notifications
            assert note["status"] == "paid"
            assert note["paymentId"] == portal.outcomes[0]["paymentId"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_an_ente_portal_completes_a_payment_through_level_1(demo, page):
    _run_portal(demo, page, notify=False)


def test_the_portal_receives_exactly_one_valid_notification(demo, page):
    _run_portal(demo, page, notify=True)
