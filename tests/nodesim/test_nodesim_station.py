"""nodesim as today's pagoPA plays a station: its subscription key on every call, the Stand-In
manager (state, probe, switch back), V2 receipts newer than the XSD, receipts through another
station of the same broker."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt

import pytest
from click.testing import CliRunner
from webtest import TestApp

from nodesim import cli, config, soapwire
from nodesim.app import make_app
from nodesim.clock import SimClock
from nodesim.node import Node, PaymentRefused
from nodesim.receipts import NEWER_IN_TRANSFER
from nodesim.standin import PROBE_EC, PROBE_NOTICE, StandInPolicy
from nodesim.station import StationClient, StationConfig, parse_header
from tests.nodesim.conftest import START
from tests.nodesim.fakestation import EC, FakeStation

KEY = ("Ocp-Apim-Subscription-Key", "s3cret-key")
NOTICE, OTHER = "301000000000000245", "301000000000000346"


@pytest.fixture
def build(pa_for_node_xsd):
    """build(auth=KEY, **standin policy) -> (node, fake station that wants KEY)."""

    def make(auth: tuple[str, str] | None = KEY, version: int = 2, **policy):
        station = FakeStation(pa_for_node_xsd, version)
        station.auth_header = KEY
        cfg = StationConfig(
            url="http://station.invalid/soap", primitive_version=version, auth_header=auth
        )
        node = Node(
            cfg,
            clock=SimClock(frozen_at=START),
            client=StationClient(cfg, station),
            standin=StandInPolicy(**policy),
        )
        return node, station

    return make


# the subscription key -----------------------------------------------------------------------


def test_every_call_to_the_station_carries_the_configured_header(build):
    node, station = build()
    node.pay_notice(EC, NOTICE, faults={"duplicate_receipts": 1})
    node.standin.probe()
    assert len(station.headers) == 5  # verify, get payment, receipt, its copy, the probe
    assert all(h == {KEY[0]: KEY[1]} for h in station.headers)


def test_without_the_header_the_station_refuses_with_403_and_nothing_is_paid(build):
    node, station = build(auth=None)
    with pytest.raises(PaymentRefused) as info:
        node.pay_notice(EC, NOTICE)
    assert info.value.kind == "bad_response" and "not authorised" in info.value.detail
    assert station.requests == [] and node.deliverer.all() == []
    answer = node.client.verify(EC, NOTICE)
    assert answer.http_status == 403


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Ocp-Apim-Subscription-Key: abc:def", ("Ocp-Apim-Subscription-Key", "abc:def")),
        ("  X-Key :  v  ", ("X-Key", "v")),
        ("", None),
        (None, None),
    ],
)
def test_header_setting_is_name_colon_value(text, expected):
    assert parse_header(text) == expected


@pytest.mark.parametrize("text", ["no-colon", ": value", "Name:", "Two words: v"])
def test_a_half_written_header_setting_is_refused(text):
    with pytest.raises(ValueError, match="Header-Name: value"):
        parse_header(text)
    with pytest.raises(ValueError):
        make_app({"nodesim.background": "false", "nodesim.station_auth_header": text})


def test_settings_and_cli_environment_give_the_header_and_the_standin_policy(monkeypatch):
    cfg = config.station_config({"nodesim.station_auth_header": "X-Key: v"})
    assert cfg.auth_header == ("X-Key", "v")
    assert config.standin_policy({}) == StandInPolicy(300.0, 3, 0, True)
    with pytest.raises(ValueError):
        config.standin_policy({"nodesim.standin_exit_successes": "0"})
    served = {}
    monkeypatch.setattr("waitress.serve", lambda app, **kw: served.update(app=app))
    result = CliRunner().invoke(
        cli.main,
        [
            "--standin-probe-seconds",
            "60",
            "--standin-exit-successes",
            "1",
            "--standin-after-failures",
            "4",
            "--standin-probe-codes",
        ],
        env={"NODESIM_STATION_AUTH_HEADER": "Ocp-Apim-Subscription-Key: from-env"},
    )
    assert result.exit_code == 0, result.output
    assert "with header Ocp-Apim-Subscription-Key" in result.output
    assert "from-env" not in result.output  # the secret is not echoed
    node = served["app"].registry["nodesim.node"]
    node.deliverer.stop()
    assert node.client.config.auth_header == ("Ocp-Apim-Subscription-Key", "from-env")
    assert node.standin.policy == StandInPolicy(60.0, 1, 4, False)
    bad = CliRunner().invoke(cli.main, ["--station-auth-header", "nocolon"])
    assert bad.exit_code == 2 and "Header-Name: value" in bad.output


# the Stand-In manager -------------------------------------------------------------------------


def test_probe_is_the_stand_in_managers_verify_with_literal_placeholders(build):
    node, station = build()
    probe = node.standin.probe()
    [req] = station.requests  # valid against paForNode.xsd (the fake checks it)
    assert req.tag == "{http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd}paVerifyPaymentNoticeReq"
    assert [(c.tag, c.text) for c in req][:3] == [
        ("idPA", PROBE_EC),
        ("idBrokerPA", "{idBrokerPA}"),
        ("idStation", "{idStation}"),
    ]
    assert req.findtext("qrCode/fiscalCode") == PROBE_EC
    assert req.findtext("qrCode/noticeNumber") == PROBE_NOTICE
    assert probe.success and probe.http_status == 200
    assert probe.fault_code == "PAA_PAGAMENTO_SCONOSCIUTO"
    # not in Stand-In: recorded, nothing switches
    assert node.standin.as_dict()["active"] is False
    assert node.standin.as_dict()["probes"][0]["success"] is True


def test_probe_with_the_real_codes_on_option(build):
    node, station = build(placeholders=False)
    node.standin.probe()
    assert station.requests[0].findtext("idBrokerPA") == "77777777777"
    assert station.requests[0].findtext("idStation") == "77777777777_01"


def test_success_needs_http_2xx_and_sconosciuto(build, monkeypatch):
    node, station = build(exit_successes=2)
    node.standin.enter()
    # 403 with a SOAP fault: no success
    station.auth_header = (KEY[0], "another")
    assert node.standin.probe().success is False
    station.auth_header = KEY
    assert node.standin.probe().success is True
    # an OK answer (the station found a notice 000...0) or a KO with another code: no success
    monkeypatch.setattr(
        station,
        "_verify",
        lambda req: soapwire.envelope(
            station._res("paVerifyPaymentNoticeRes", "KO", "PAA_ID_DOMINIO_ERRATO")
        ),
    )
    failed = node.standin.probe()
    assert failed.success is False and failed.fault_code == "PAA_ID_DOMINIO_ERRATO"
    station.down = True
    assert node.standin.probe().result == "unreachable"
    state = node.standin.as_dict()
    assert state["active"] is True and state["successesInARow"] == 0
    assert [p["success"] for p in state["probes"]] == [False, True, False, False]
    assert [p["httpStatus"] for p in state["probes"]] == [403, 200, 200, None]


def test_station_leaves_stand_in_after_the_configured_successes_in_a_row(build):
    node, _ = build(exit_successes=3)
    node.standin.enter("test")
    assert node.standin.probe().success and node.standin.active
    assert node.standin.probe().success and node.standin.active
    node.standin.probe()
    state = node.standin.as_dict()
    assert state["active"] is False and state["nextProbeAt"] is None
    assert [s["to"] for s in state["switches"]] == ["standin", "normal"]
    assert "3 successful probe(s)" in state["switches"][1]["reason"]


def test_probes_come_every_period_of_simulated_time_while_in_stand_in(build):
    node, station = build(probe_seconds=300, exit_successes=3)
    station.down = True  # the station keeps failing: it stays in Stand-In
    node.standin.enter()
    assert node.standin.run_due() == 0
    node.clock.advance(dt.timedelta(seconds=299))
    assert node.standin.run_due() == 0
    node.clock.advance(dt.timedelta(seconds=1))
    assert node.standin.run_due() == 1
    assert node.standin.run_due() == 0
    # the clock jumps an hour: the probes that came due, a few at most, then one a period on
    assert node.advance(dt.timedelta(hours=1))["standInProbes"] == 10
    assert node.standin.next_probe_at == node.clock.now() + dt.timedelta(seconds=300)
    assert all(p.trigger == "schedule" for p in node.standin.probes)
    # the station is back: three more periods and it is out of Stand-In
    station.down = False
    for _ in range(3):
        node.advance(dt.timedelta(seconds=300))
    assert not node.standin.active
    node.advance(dt.timedelta(hours=1))
    assert len(node.standin.probes) == 14  # no probes outside Stand-In


def test_failed_calls_in_a_row_put_the_station_in_stand_in(build):
    node, station = build(after_failures=2)
    station.down = True
    for _ in range(2):
        with pytest.raises(PaymentRefused):
            node.pay_notice(EC, NOTICE)
    state = node.standin.as_dict()
    assert state["active"] and "2 failed calls in a row" in state["reason"]
    # probes do not count as failures, and a good answer resets the count
    node.standin.leave()
    station.down = False
    node.pay_notice(EC, NOTICE)
    station.down = True
    with pytest.raises(PaymentRefused):
        node.pay_notice(EC, OTHER)
    node.standin.probe()
    assert not node.standin.active and node.standin.failures == 1


def test_in_stand_in_the_node_answers_from_its_archive_and_receipts_say_standin(build):
    node, station = build()
    node.pay_notice(EC, NOTICE)  # the Node knows this notice from then on
    before = len(station.requests)
    node.standin.enter()
    paid = node.pay_notice(EC, NOTICE)
    assert station.names()[before:] == ["paSendRTV2Request"]  # no verify, no activation
    assert paid["payment"]["standIn"] is True and paid["notice"]["amount"] == "41.50"
    receipt = station.receipts()[-1]
    assert receipt.findtext("standIn") == "true"
    assert receipt.findtext("paymentAmount") == "41.50"
    # a notice the Node never saw: pagoPA cannot answer for it
    with pytest.raises(PaymentRefused) as info:
        node.pay_notice(EC, OTHER)
    assert info.value.fault_code == "PAA_PAGAMENTO_SCONOSCIUTO"
    assert station.names()[before:] == ["paSendRTV2Request"]
    node.standin.leave()
    assert node.pay_notice(EC, OTHER)["payment"]["standIn"] is False


def test_stand_in_over_http_state_switch_and_probe(build):
    node, _ = build(exit_successes=1)
    app = TestApp(make_app({"nodesim.background": "false"}, node=node))
    assert app.get("/api/standin").json["active"] is False
    entered = app.post_json("/api/standin", {"active": True, "reason": "demo"}).json
    assert entered["active"] and entered["reason"] == "demo"
    assert "in Stand-In" in app.get("/").text
    done = app.post_json("/api/standin/probe", {}).json
    assert done["probe"]["success"] and done["probe"]["httpStatus"] == 200
    assert done["probe"]["faultCode"] == "PAA_PAGAMENTO_SCONOSCIUTO"
    assert done["standIn"]["active"] is False
    # the home page's buttons
    assert app.post("/api/standin", {"active": "true"}, status=302)
    assert app.get("/api/standin").json["active"] is True
    assert app.post("/api/standin/probe", {"go": "1"}, status=302)
    assert app.get("/api/standin").json["active"] is False
    assert len(app.get("/api/standin").json["probes"]) == 2


# receipts as pagoPA sends them today -----------------------------------------------------------


@pytest.mark.parametrize("version", [1, 2])
def test_newer_elements_fault_puts_elements_the_xsd_lacks_in_the_receipt(
    build, version, pa_for_node_xsd
):
    node, station = build(version=version)
    station.tolerant = True
    node.pay_notice(EC, "301000000000000144", faults={"newer_elements": True})
    [request] = [
        r for r in station.requests if r.tag.endswith(("paSendRTV2Request", "paSendRTReq"))
    ]
    receipt = request.find("receipt")
    names = [c.tag for c in receipt]
    assert names[names.index("description") + 1] == "paymentNote"
    assert names.count("paymentNote") == 1
    transfers = receipt.findall("transferList/transfer")
    assert len(transfers) == 2
    assert all(t[-1].tag == NEWER_IN_TRANSFER for t in transfers)
    assert not pa_for_node_xsd.validate(request)
    # and that is all that is new: without those elements it is a valid receipt
    plain = copy.deepcopy(request)
    for elt in plain.iter("paymentNote", NEWER_IN_TRANSFER):
        elt.getparent().remove(elt)
    assert pa_for_node_xsd.validate(plain), pa_for_node_xsd.error_log.last_error


def test_receipt_through_another_station_of_the_same_broker(build):
    node, station = build()
    paid = node.pay_notice(EC, NOTICE, faults={"receipt_station": "77777777777_02"})
    verify, activate, send_rt = station.requests
    assert verify.findtext("idStation") == activate.findtext("idStation") == "77777777777_01"
    assert send_rt.findtext("idStation") == "77777777777_02"
    assert send_rt.findtext("idBrokerPA") == "77777777777"
    assert paid["delivery"]["idStation"] == "77777777777_02"
    assert paid["delivery"]["status"] == "delivered"
    # default: the same station
    again = node.pay_notice(EC, OTHER)
    assert again["delivery"]["idStation"] == "77777777777_01"


def test_new_faults_from_settings_and_requests():
    from nodesim.faults import Faults

    faults = Faults.from_settings(
        {"nodesim.fault.receipt_station": "77777777777_02", "nodesim.fault.newer_elements": "true"}
    )
    assert faults.receipt_station == "77777777777_02" and faults.newer_elements is True
    assert dataclasses.replace(faults).merged({"receipt_station": ""}).receipt_station is None


def test_over_http_the_header_is_sent_and_the_status_read(pa_for_node_xsd):
    import http.server
    import threading

    seen: list[str | None] = []

    class Station(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            seen.append(self.headers.get(KEY[0]))
            ok = self.headers.get(KEY[0]) == KEY[1]
            body = FakeStation(pa_for_node_xsd)._verify(
                soapwire.body_element(soapwire.envelope(_probe_element()))
            )
            self.send_response(200 if ok else 403)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Station)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/soap"
        for auth, status, success in ((KEY, 200, True), (None, 403, False)):
            cfg = StationConfig(url=url, auth_header=auth)
            node = Node(cfg, clock=SimClock(frozen_at=START))
            probe = node.standin.probe()
            assert (probe.http_status, probe.success) == (status, success)
            assert probe.fault_code == "PAA_PAGAMENTO_SCONOSCIUTO"
        assert seen == [KEY[1], None]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _probe_element():
    node = Node(StationConfig(url="http://unused.invalid/"), clock=SimClock(frozen_at=START))
    return node.standin.probe_request()


def test_two_timers_at_once_send_a_due_probe_once(build, monkeypatch):
    import threading
    import time

    node, station = build(probe_seconds=300)
    verify = station._verify
    monkeypatch.setattr(station, "_verify", lambda req: time.sleep(0.1) or verify(req))
    node.standin.enter()
    node.clock.advance(dt.timedelta(seconds=300))
    threads = [threading.Thread(target=node.standin.run_due) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(node.standin.probes) == 1
