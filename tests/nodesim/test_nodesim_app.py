"""nodesim's HTTP face: Checkout carts and pages, the desk API, the clock, the mount, the CLI."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from webtest import TestApp

from nodesim.app import make_app
from tests.nodesim.fakestation import EC

ROOT = Path(__file__).resolve().parents[2]
RETURN = {
    "returnOkUrl": "https://ente.example/ok",
    "returnCancelUrl": "https://ente.example/ko",
    "returnErrorUrl": "https://ente.example/err",
}
NOTICES = ["301000000000000144", "301000000000000245", "301000000000000346"]


@pytest.fixture
def sim(make_node):
    node, station = make_node()
    app = TestApp(make_app({"nodesim.background": "false"}, node=node))
    return app, node, station


def _cart(numbers, amount=100):
    return {
        "paymentNotices": [
            {
                "noticeNumber": n,
                "fiscalCode": EC,
                "amount": amount,
                "companyName": "Comune di Demo",
                "description": "Mensa",
            }
            for n in numbers
        ],
        "returnUrls": RETURN,
        "emailNotice": "payer@example.org",
        "idCart": "cart-42",
    }


def test_cart_of_three_is_verified_paid_and_sends_the_payer_back_ok(sim):
    app, _node, station = sim
    created = app.post_json("/checkout/ec/v1/carts", _cart(NOTICES), status=302)
    page = app.get(created.location)
    assert "30.00" in page.text and "41.50" in page.text and "83.50" in page.text
    assert "commissione" in page.text and "Poste Demo" in page.text
    form = page.forms[0]
    form["offer"] = "UNCRITMM:APP"
    done = form.submit("action", value="pay", status=302)
    assert done.location == RETURN["returnOkUrl"]
    assert station.names().count("paSendRTV2Request") == 3
    gets = [r for r in station.requests if r.tag.endswith("paGetPaymentV2Request")]
    assert {r.findtext("paymentNote") for r in gets} == {"cart-42"}
    receipts = station.receipts()
    assert [r.findtext("noticeNumber") for r in receipts] == NOTICES
    assert {r.findtext("idPSP") for r in receipts} == {"UNCRITMM"}
    # coming back to the page later lands on the outcome again
    assert app.get(created.location, status=302).location == RETURN["returnOkUrl"]


def test_cart_cancel_and_error_go_to_their_return_urls(sim):
    app, _, station = sim
    cart = app.post_json("/checkout/ec/v1/carts", _cart(NOTICES[:1]), status=302)
    assert app.post(cart.location, {"action": "cancel"}).location == RETURN["returnCancelUrl"]
    bad = app.post_json("/checkout/ec/v1/carts", _cart(["399999999999999999"]), status=302)
    page = app.get(bad.location)
    assert "non può essere pagato" in page.text
    assert app.post(bad.location, {"action": "pay"}).location == RETURN["returnErrorUrl"]
    assert station.receipts() == []


def test_out_of_order_fault_sends_cart_receipts_last_first(sim):
    app, _, station = sim
    cart = app.post_json("/checkout/ec/v1/carts", _cart(NOTICES), status=302)
    app.post(
        cart.location,
        {"action": "pay", "offer": "BCITITMM:CP", "faults": json.dumps({"out_of_order": True})},
        status=302,
    )
    assert [r.findtext("noticeNumber") for r in station.receipts()] == NOTICES[::-1]


@pytest.mark.parametrize(
    "body, detail",
    [
        ({"paymentNotices": [], "returnUrls": RETURN}, "1 to 5"),
        (_cart(["3010000000000001" + f"{i:02d}" for i in range(6)]), "1 to 5"),
        (_cart(["12345"]), "18 digits"),
        (_cart(NOTICES[:1], amount=0), "euro cents"),
        ({**_cart(NOTICES[:1]), "returnUrls": {}}, "returnOkUrl"),
        (_cart([NOTICES[0], NOTICES[0]]), "twice"),
    ],
)
def test_invalid_carts_are_refused_with_the_reason(sim, body, detail):
    app, _, _ = sim
    answer = app.post_json("/checkout/ec/v1/carts", body, status=422)
    assert detail in answer.json["detail"]


def test_desk_api_pays_and_deliveries_and_clock_are_visible(sim):
    app, _node, station = sim
    station.send_rt_script = ["timeout"]
    paid = app.post_json(
        "/psp/pay",
        {"fiscalCode": EC, "noticeNumber": NOTICES[1], "psp": "PTSPITR1", "method": "PO"},
    ).json
    receipt_id = paid["payment"]["receiptId"]
    assert paid["payment"]["fee"] == "2.00" and paid["delivery"]["status"] == "retrying"
    moved = app.post_json("/api/clock", {"days": 1}).json
    assert moved["attemptsMade"] == 1 and len(moved["closedFlows"]) == 1
    listed = app.get("/api/deliveries").json
    assert [d["status"] for d in listed] == ["delivered"]
    assert [a["result"] for a in app.get(f"/api/deliveries/{receipt_id}").json["attempts"]] == [
        "timeout",
        "ok",
    ]
    flow_id = moved["closedFlows"][0]
    assert app.get(f"/api/flows/{flow_id}.xml").content_type == "application/xml"
    assert "LGPE-RIVERSAMENTO" in app.get("/bank/statement.csv", {"fiscalCode": EC}).text
    assert "camt.053" in app.get("/bank/camt053.xml", {"fiscalCode": EC}).text
    refused = app.post_json(
        "/psp/pay", {"fiscalCode": EC, "noticeNumber": "3" * 18}, status=422
    ).json
    assert refused["faultCode"] == "PAA_PAGAMENTO_SCONOSCIUTO"
    assert refused["nodeFaultCode"] == "PPT_ERRORE_EMESSO_DA_PAA"
    assert app.post_json(
        "/psp/pay",
        {"fiscalCode": EC, "noticeNumber": NOTICES[0], "faults": {"nope": 1}},
        status=400,
    ).json["detail"]
    assert "Sportello PSP" in app.get("/").text


def test_default_faults_can_be_set_and_read(sim):
    app, _node, _ = sim
    assert app.put_json("/api/faults", {"duplicate_receipts": 1}).json["duplicate_receipts"] == 1
    paid = app.post_json("/psp/pay", {"fiscalCode": EC, "noticeNumber": NOTICES[2]}).json
    assert [a["copy"] for a in paid["delivery"]["attempts"]] == [False, True]


def test_mounted_in_a_host_pyramid_app_at_sim(pa_for_node_xsd):
    from pyramid.config import Configurator

    config = Configurator(
        settings={"nodesim.background": "false", "nodesim.payhub_url": "http://127.0.0.1:9"}
    )
    config.include("nodesim.pyramid")
    app = TestApp(config.make_wsgi_app())
    assert app.get("/sim/health").json == {"status": "ok"}
    assert app.get("/sim").location.endswith("/sim/")
    cart = app.post_json("/sim/checkout/ec/v1/carts", _cart(NOTICES[:1]), status=302)
    assert "/sim/checkout/c/" in cart.location


PAYHUB_PACKAGES = {"hub", "soap", "web", "actors", "workflows", "payhub", "sla_monitor"}


def test_nodesim_never_imports_payhub_code():
    for path in (ROOT / "nodesim").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                assert name.split(".")[0] not in PAYHUB_PACKAGES, f"{path.name} imports {name}"
    code = (
        "import sys, nodesim.app, nodesim.cli, nodesim.pyramid; "
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {PAYHUB_PACKAGES!r}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout
    assert out.strip() == "[]"


def test_cli_help_lists_the_options():
    out = subprocess.run(
        [sys.executable, "-m", "nodesim", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    ).stdout
    for option in ("--port", "--payhub-url", "--fault", "--sendrt-timeout", "--retry-max-attempts"):
        assert option in out


def test_slow_answers_fault_delays_node_for_pa(sim):
    import time

    app, _node, _ = sim
    app.put_json("/api/faults", {"slow_seconds": 0.3})
    started = time.monotonic()
    answer = app.post("/nodeForPa", b"<not-soap/>", content_type="text/xml")
    assert time.monotonic() - started >= 0.3
    assert b"PPT_SINTASSI_EXTRAXSD" in answer.body


def test_a_double_click_on_pay_pays_the_cart_once(sim):
    import concurrent.futures as cf

    app, _node, station = sim
    checkout = app.app.registry["nodesim.checkout"]
    cart = checkout.create(_cart(NOTICES))
    with cf.ThreadPoolExecutor(4) as pool:
        urls = list(pool.map(lambda _: checkout.pay(cart, "BCITITMM", "CP"), range(4)))
    assert set(urls) == {RETURN["returnOkUrl"]}
    assert len(station.receipts()) == 3


def test_a_large_body_read_by_nodesim_leaves_no_temporary_file_behind(make_node, monkeypatch):
    """WebOb would copy a body above 10 KiB, read from a server's stream, into a temporary file
    it never closes (the garbage collector then warns at a random moment of the process that
    serves nodesim, a test's for an in-process server): nodesim keeps its bodies in memory."""
    import io

    from nodesim import app as nodesim_app

    made: list[object] = []
    monkeypatch.setattr(nodesim_app._Request, "make_tempfile", lambda self: made.append(self))
    body = b"<x>" + b"a" * (200 * 1024) + b"</x>"
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/nodeForPa",
        "CONTENT_TYPE": "text/xml",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BufferedReader(io.BytesIO(body)),  # a stream, not seekable here
        "wsgi.url_scheme": "http",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
    }
    answered: list[str] = []
    node, _station = make_node()
    app = make_app({"nodesim.background": "false"}, node=node)
    app(environ, lambda status, headers: answered.append(status))
    assert answered and not answered[0].startswith("5")
    assert made == []
