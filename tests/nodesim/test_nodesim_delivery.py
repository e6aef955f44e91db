"""The Node's paSendRT retry policy, against a fake station and a frozen clock."""

from __future__ import annotations

import datetime as dt
import http.server
import threading
import time

from nodesim.delivery import RetryPolicy
from tests.nodesim.fakestation import EC

NOTICE = "301000000000000245"


def _pay(node, **faults):
    return node.deliverer.get(
        node.pay_notice(EC, NOTICE, faults=faults or None)["payment"]["receiptId"]
    )


def test_timeouts_errors_and_ko_are_resent_with_growing_backoff_until_ok(make_node, clock):
    node, station = make_node(backoff_seconds=10)
    station.send_rt_script = ["timeout", "unreachable", "PAA_SYSTEM_ERROR", "garbage"]
    delivery = _pay(node)
    assert delivery.status == "retrying" and len(delivery.attempts) == 1
    assert node.deliverer.run_due() == 0  # not yet due
    for wait in (10, 20, 40, 80):  # 10 s, doubling
        clock.advance(dt.timedelta(seconds=wait - 1))
        assert node.deliverer.run_due() == 0
        clock.advance(dt.timedelta(seconds=1))
        assert node.deliverer.run_due() == 1
    assert delivery.status == "delivered"
    assert [a.result for a in delivery.attempts] == [
        "timeout",
        "unreachable",
        "ko",
        "bad_response",
        "ok",
    ]
    assert delivery.attempts[2].fault_code == "PAA_SYSTEM_ERROR"
    # the same bytes every time: one receipt, five identical deliveries
    assert len({r.findtext("receiptId") for r in station.receipts()}) == 1


def test_duplicate_answer_ends_the_retries(make_node, clock):
    node, station = make_node()
    station.send_rt_script = ["PAA_RECEIPT_DUPLICATA"]
    delivery = _pay(node)
    assert delivery.status == "duplicate"
    clock.advance(dt.timedelta(days=1))
    assert node.deliverer.run_due() == 0


def test_gives_up_after_max_attempts_and_support_can_restart(make_node, clock):
    node, station = make_node(max_attempts=3, backoff_seconds=1)
    station.send_rt_script = ["timeout"] * 3
    delivery = _pay(node)
    for _ in range(5):
        clock.advance(dt.timedelta(hours=1))
        node.deliverer.run_due()
    assert delivery.status == "exhausted" and len(delivery.attempts) == 3
    node.deliverer.retry(delivery.receipt_id)
    assert delivery.status == "delivered" and len(delivery.attempts) == 4


def test_backoff_is_capped():
    policy = RetryPolicy(backoff_seconds=60, backoff_max_seconds=3600)
    assert policy.wait_after(1) == dt.timedelta(seconds=60)
    assert policy.wait_after(10) == dt.timedelta(hours=1)


def test_a_held_receipt_is_sent_only_when_the_clock_reaches_it(make_node, clock):
    node, station = make_node()
    delivery = _pay(node, hold_receipt_seconds=3 * 3600)
    assert delivery.status == "scheduled" and delivery.attempts == []
    assert station.receipts() == []
    result = node.advance(dt.timedelta(hours=3))
    assert result["attemptsMade"] == 1 and delivery.status == "delivered"


def test_duplicate_fault_sends_the_same_receipt_again_after_delivery(make_node):
    node, _station = make_node()
    delivery = _pay(node, duplicate_receipts=2)
    assert delivery.status == "delivered"
    assert [(a.result, a.fault_code, a.copy) for a in delivery.attempts] == [
        ("ok", None, False),
        ("ko", "PAA_RECEIPT_DUPLICATA", True),
        ("ko", "PAA_RECEIPT_DUPLICATA", True),
    ]


def test_every_attempt_is_visible_as_json(make_node):
    node, station = make_node()
    station.send_rt_script = ["timeout"]
    delivery = _pay(node)
    data = delivery.as_dict()
    assert data["status"] == "retrying" and data["nextAttemptAt"]
    assert data["attempts"][0]["result"] == "timeout"


class _Slow(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(1.0)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_real_slow_station_counts_as_a_timeout(pa_for_node_xsd):
    from nodesim.station import StationClient, StationConfig

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client = StationClient(StationConfig(url=f"http://127.0.0.1:{server.server_port}/"))
        answer = client.post(b"<x/>", "paSendRTV2", timeout=0.2)
        assert answer.kind == "timeout"
        closed = StationClient(StationConfig(url="http://127.0.0.1:9/"))
        assert closed.post(b"<x/>", "paSendRTV2", timeout=1).kind == "unreachable"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_timeout_fault_shortens_the_nodes_wait_for_one_receipt(pa_for_node_xsd, clock):
    from nodesim.node import Node
    from nodesim.station import StationClient, StationConfig
    from tests.nodesim.fakestation import FakeStation

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        fake = FakeStation(pa_for_node_xsd)
        slow_url = f"http://127.0.0.1:{server.server_port}/"

        def transport(url, action, payload, timeout, headers=None):
            if action.startswith("paSendRT"):  # the station is slow only on receipts
                from nodesim.station import http_transport

                return http_transport(slow_url, action, payload, timeout, headers=headers)
            return fake(url, action, payload, timeout)

        config = StationConfig(url="http://station.invalid/")
        node = Node(config, clock=clock, client=StationClient(config, transport))
        paid = node.pay_notice(EC, NOTICE, faults={"sendrt_timeout_seconds": 0.2})
        assert [a["result"] for a in paid["delivery"]["attempts"]] == ["timeout"]
        assert paid["delivery"]["status"] == "retrying"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
