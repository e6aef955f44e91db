"""Precomputed payments found at the Ente's back-office: a fine looked up by report number and
plate. A local HTTP server plays the back-office and checks the signature on its own."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa

from hub import checkout
from hub.models import DebtPosition, Ente, PaymentService
from web.clientaddr import limiter_of

CDS = "/pay/enti/77777777777/services/CDS"
KEYS = [
    {
        "name": "report_number",
        "label": {"it": "Numero del verbale", "en": "Report number"},
        "pattern": "[0-9]{1,10}/[0-9]{4}",
        "help": {"it": "Es. 123/2026", "en": "E.g. 123/2026"},
    },
    {"name": "plate", "label": {"it": "Targa", "en": "Number plate"}, "maxlength": 10},
]
FINE = {
    "iupd": "VERB-123-2026",
    "amount": "42.00",
    "description": "Verbale 123/2026",
    "dueDate": "2026-12-31",
    "debtor": {"type": "F", "fiscalCode": "RSSMRA80A01H501U", "name": "Mario Rossi"},
}


def verify(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """The README's verification, as a back-office would write it."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    timestamp, received = fields.get("t", ""), fields.get("v1", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance:
        return False
    expected = hmac.new(
        secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, received)


@dataclass
class Backoffice:
    url: str
    secret: str = ""
    debts: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    status: int | None = None  # force an answer
    delay: float = 0.0
    body: bytes | None = None  # force a body


@pytest.fixture
def backoffice(local_targets) -> Iterator[Backoffice]:
    state: Backoffice

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            signed = verify(state.secret, self.headers.get("X-Payhub-Signature", ""), body)
            data = json.loads(body)
            state.requests.append(
                {"signed": signed, "body": data, "key_id": self.headers.get("X-Payhub-Key-Id")}
            )
            time.sleep(state.delay)
            debt = state.debts.get((data["keys"].get("report_number"), data["keys"].get("plate")))
            status = state.status or (401 if not signed else 200 if debt else 404)
            out = (
                state.body
                if state.body is not None
                else json.dumps(debt if status == 200 else {"detail": "no such debt"}).encode()
            )
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)
            except OSError:  # payhub gave up waiting
                pass

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state = Backoffice(f"http://127.0.0.1:{server.server_port}/lookup")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def fines(shop, backoffice) -> Backoffice:
    """The demo's CDS (traffic fines) service finds its fines at the back-office."""
    with shop.factory.begin() as session:
        service = session.scalars(
            sa.select(PaymentService).where(PaymentService.code == "CDS")
        ).one()
        registered = checkout.register_lookup(
            session, service, backoffice.url, KEYS, timeout_seconds=1
        )
        backoffice.secret = registered.secret
    backoffice.debts[("123/2026", "AB123CD")] = FINE
    return backoffice


def _search(shop, report: str = "123/2026", plate: str = "AB123CD", **kwargs):
    form = shop.app.get(CDS, **kwargs).forms[0]
    form["report_number"] = report
    form["plate"] = plate
    return form.submit(status="*")


def _positions(shop) -> list[DebtPosition]:
    with shop.factory() as session:
        found = list(session.scalars(sa.select(DebtPosition).where(DebtPosition.iupd.like("BO-%"))))
        for position in found:
            position.options  # noqa: B018  (loaded while the session is open)
        return found


def test_the_form_asks_the_configured_key_fields(shop, fines):
    page = shop.app.get(CDS)
    assert (
        page.html.find("label", attrs={"for": "report_number"})
        .text.strip()
        .startswith("Report number")
    )
    assert page.html.find("input", id="plate")["maxlength"] == "10"
    assert page.html.find("input", id="notice_number") is None
    assert page.html.find("a", href=lambda h: h and h.endswith("/pay/enti/77777777777#notice"))


def test_a_fine_found_at_the_back_office_goes_to_the_archive_and_the_cart(shop, fines):
    answer = _search(shop)
    assert answer.status_int == 303
    cart = answer.follow()
    assert "Verbale 123/2026" in cart and "42.00" in cart.html.find("tfoot").text
    [asked] = fines.requests
    assert asked["signed"] and asked["key_id"].startswith("whk_")
    assert asked["body"] == {
        "enteFiscalCode": "77777777777",
        "service": "CDS",
        "keys": {"report_number": "123/2026", "plate": "AB123CD"},
    }
    [position] = _positions(shop)
    assert position.iupd == "BO-CDS-VERB-123-2026" and position.status == "payable"
    assert position.debtor_fiscal_code == "RSSMRA80A01H501U"
    assert [(o.amount_cents, o.status) for o in position.options] == [(4200, "payable")]
    # checkout sends the notice of our archive to pagoPA
    assert shop.pay().status_int == 303
    [sent] = shop.checkout.carts
    assert [n.notice_number for n in sent.notices] == [position.options[0].notice_number]


def test_the_same_fine_found_again_is_the_same_position(shop, fines):
    assert _search(shop).status_int == 303
    again = _search(shop)
    assert again.status_int == 422 and "already in your cart" in again
    shop.app.reset()  # another citizen, another cart
    assert _search(shop).status_int == 303
    assert len(_positions(shop)) == 1 and len(fines.requests) == 3


def test_nothing_found_says_so(shop, fines):
    answer = _search(shop, plate="ZZ999ZZ")
    assert answer.status_int == 422
    assert "We found no payment matching these details" in answer
    assert answer.html.find("input", id="plate")["value"] == "ZZ999ZZ"
    assert _positions(shop) == [] and shop.app.get("/pay/cart").html.find("tbody") is None


@pytest.mark.parametrize("trouble", ["error", "timeout", "garbage", "bad_debtor", "down"])
def test_a_back_office_in_trouble_is_explained_and_adds_nothing(shop, fines, trouble):
    if trouble == "error":
        fines.status = 500
    elif trouble == "timeout":
        fines.delay = 1.5  # the lookup waits 1 s
    elif trouble == "garbage":
        fines.body = b"<html>oops</html>"
    elif trouble == "bad_debtor":
        fines.debts[("123/2026", "AB123CD")] = {
            **FINE,
            "debtor": {"fiscalCode": "NOTACODE", "name": "X"},
        }
    started = time.monotonic()
    if trouble == "down":
        with shop.factory.begin() as session:
            service = session.scalars(
                sa.select(PaymentService).where(PaymentService.code == "CDS")
            ).one()
            service.form = {
                **service.form,
                "lookup": {**service.form["lookup"], "url": "http://127.0.0.1:9/lookup"},
            }
    answer = _search(shop)
    assert time.monotonic() - started < 5
    assert answer.status_int == 503
    assert "is not answering right now: nothing was added to your cart" in answer
    assert _positions(shop) == []


def test_key_fields_are_checked_before_asking(shop, fines):
    answer = _search(shop, report="not a number", plate="")
    assert answer.status_int == 422
    assert answer.html.find(id="report_number-error") is not None
    assert answer.html.find(id="plate-error") is not None
    assert fines.requests == []


def test_a_fine_already_paid_here_says_so(shop, fines):
    assert _search(shop).status_int == 303
    with shop.factory.begin() as session:
        [position] = session.scalars(
            sa.select(DebtPosition).where(DebtPosition.iupd.like("BO-%"))
        ).all()
        position.options[0].status = "paid"
    shop.app.reset()
    answer = _search(shop)
    assert answer.status_int == 422 and "already been paid" in answer


def test_a_new_key_replaces_the_old_one(shop, fines):
    old_secret = fines.secret
    with shop.factory.begin() as session:
        service = session.scalars(
            sa.select(PaymentService).where(PaymentService.code == "CDS")
        ).one()
        checkout.register_lookup(session, service, fines.url, KEYS)
    fines.secret = old_secret  # the back-office still checks the old secret
    answer = _search(shop)
    assert answer.status_int == 503 and fines.requests[-1]["signed"] is False


def test_lookups_are_rate_limited_and_keys_stay_out_of_logs(shop, fines, capsys, caplog):
    with caplog.at_level("DEBUG"):
        assert _search(shop).status_int == 303
    logged = capsys.readouterr().out + caplog.text
    assert "checkout.lookup_found" in logged
    assert "AB123CD" not in logged and "123/2026" not in logged
    limiter = shop.app.app.registry["checkout.lookup_limiter"]
    limiter_of(shop.app.app.registry).reset()
    shop.app.reset()
    answers = [_search(shop, plate="ZZ999ZZ").status_int for _ in range(limiter.burst + 1)]
    assert answers[:-1] == [422] * limiter.burst and answers[-1] == 429
    assert len(fines.requests) == 1 + limiter.burst


def test_a_service_without_lookup_still_asks_the_notice_number(shop):
    page = shop.app.get(CDS)
    assert page.html.find("input", id="notice_number") is not None
    with shop.factory() as session:
        assert session.scalar(sa.select(Ente).where(Ente.fiscal_code == "77777777777"))
