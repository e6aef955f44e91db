"""The station against pagoPA as it runs today (issue 11), on the real stack with caller
authentication on: receipts with elements newer than the XSD, the Stand-In manager's probe and
the way back from Stand-In, a receipt through another station of the broker, and a forged
receipt from a caller without the subscription key."""

from __future__ import annotations

import uuid

import pytest
import requests
from lxml import etree

from nodesim.clock import SimClock
from nodesim.node import Node
from nodesim.station import Reply, StationClient, StationConfig
from tests.e2e.conftest import EC, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.pg, pytest.mark.redis, pytest.mark.slow]

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SECOND_STATION = "77777777777_02"


def test_receipt_with_elements_newer_than_the_xsd_is_stored_and_settles(stack):
    notice = stack.new_notice("31.20")
    paid = stack.pay(notice, faults={"newer_elements": True})
    delivery = stack.wait_delivery(paid["payment"]["receiptId"])
    assert [a["result"] for a in delivery["attempts"]] == ["ok"]  # first time, no fault
    assert wait_for(lambda: stack.option(notice)["status"] == "paid", 10, "the option paid")
    [receipt] = stack.receipts(notice)
    assert receipt["receipt_id"] == paid["payment"]["receiptId"]
    assert receipt["outcome"] == "OK"
    # the unknown elements are kept in the stored original
    assert "<paymentNote>" in receipt["raw_xml"] and "<transferNote>" in receipt["raw_xml"]
    assert stack.anomalies(notice) == []  # an ordinary payment
    # what the Ente's application sees through the REST API
    listed = stack.api("GET", f"/notices/{notice}/receipts")
    assert listed.status_code == 200, listed.text
    assert [(r["receiptId"], r["amount"], r["outcome"]) for r in listed.json()["items"]] == [
        (receipt["receipt_id"], "31.20", "OK")
    ]
    xml = stack.api("GET", f"/receipts/{receipt['receipt_id']}/xml")
    assert xml.status_code == 200 and "<paymentNote>" in xml.text


def test_stand_in_probe_is_answered_sconosciuto_and_the_station_leaves_stand_in(stack):
    probes_before = stack.scalar("SELECT coalesce(sum(count), 0) FROM standin_probe")
    entered = stack.sim_api("POST", "/api/standin", json={"active": True, "reason": "e2e"}).json()
    assert entered["active"] is True
    # while in Stand-In pagoPA answers for the station; a payment then is a standIn receipt
    notice = stack.new_notice("12.00")
    iuv = stack.scalar("SELECT iuv FROM payment_option WHERE notice_number = :n", n=notice)
    standin_paid = stack.sim_api(
        "POST",
        "/psp/standin",
        json={"fiscalCode": EC, "noticeNumber": notice, "amount": "12.00", "iuv": iuv},
    )
    assert standin_paid.ok, standin_paid.text
    stack.wait_delivery(standin_paid.json()["payment"]["receiptId"])
    [receipt] = stack.receipts(notice)
    assert receipt["standin"] is True
    # the manager's timer: a probe every period of the sim's clock
    assert stack.sim_api("POST", "/api/clock", json={"seconds": entered["probeSeconds"]}).ok

    def scheduled_probes():
        state = stack.sim_api("GET", "/api/standin").json()
        return [p for p in state["probes"] if p["trigger"] == "schedule"], state

    # sent by the clock call or by the sim's own timer, whichever comes first: one of them
    wait_for(lambda: scheduled_probes()[0], 10, "the scheduled probe")
    [scheduled], state = scheduled_probes()
    assert scheduled["trigger"] == "schedule" and scheduled["success"] is True, scheduled
    assert scheduled["httpStatus"] == 200
    # then on demand, until as many successes in a row as the sim wants
    needed = entered["exitSuccesses"] - state["successesInARow"]
    for n in range(needed):
        done = stack.sim_api("POST", "/api/standin/probe", json={}).json()
        probe = done["probe"]
        assert probe["httpStatus"] == 200, probe
        assert probe["success"] is True, probe
        assert probe["result"] == "ko" and probe["faultCode"] == "PAA_PAGAMENTO_SCONOSCIUTO"
        assert done["standIn"]["active"] is (n + 1 < needed)
    state = stack.sim_api("GET", "/api/standin").json()
    assert state["active"] is False
    assert [s["to"] for s in state["switches"]][-2:] == ["standin", "normal"]
    # payhub recorded that pagoPA probed it
    assert (
        stack.scalar("SELECT coalesce(sum(count), 0) FROM standin_probe")
        >= probes_before + needed + 1
    )


def test_receipt_through_another_station_of_the_broker_is_stored_and_settles(stack):
    from hub.models import Intermediary, Station

    with stack.sessions.begin() as session:  # the station the Ente was moved away from
        if session.query(Station).filter_by(station_code=SECOND_STATION).first() is None:
            broker = session.query(Intermediary).filter_by(broker_code=EC).one()
            session.add(
                Station(station_code=SECOND_STATION, intermediary=broker, primitive_version=2)
            )
    notice = stack.new_notice("18.40")
    paid = stack.pay(notice, faults={"receipt_station": SECOND_STATION})
    assert paid["delivery"]["idStation"] == SECOND_STATION
    delivery = stack.wait_delivery(paid["payment"]["receiptId"])
    assert [a["result"] for a in delivery["attempts"]] == ["ok"]
    assert wait_for(lambda: stack.option(notice)["status"] == "paid", 10, "the option paid")
    [receipt] = stack.receipts(notice)
    assert receipt["receipt_id"] == paid["payment"]["receiptId"]
    assert SECOND_STATION in receipt["raw_xml"]
    assert stack.anomalies(notice) == ["station_mismatch"]  # flagged for support


def _forged_receipt(notice: str, amount: str) -> bytes:
    """A schema-valid paSendRTV2 for ``notice``, built as nodesim would, never sent."""
    captured: list[bytes] = []

    def capture(url, action, payload, timeout, headers=None):
        captured.append(payload)
        return Reply(b"<not-sent/>", 200)

    config = StationConfig(url="http://forger.invalid/")
    Node(config, clock=SimClock(), client=StationClient(config, capture)).pay_standin(
        EC, notice, amount, iuv=notice[1:]
    )
    return captured[0]


@pytest.mark.parametrize("header", [None, "wrong"])
def test_forged_receipt_without_the_subscription_key_is_refused_and_changes_nothing(stack, header):
    notice = stack.new_notice("43.50")
    before = stack.option(notice)
    payload = _forged_receipt(notice, "0.01")
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"paSendRTV2"'}
    if header:
        headers[stack.auth_header[0]] = header + uuid.uuid4().hex
    answer = requests.post(stack.soap_url, data=payload, headers=headers, timeout=10)
    assert answer.status_code == 403, answer.text
    body = etree.fromstring(answer.content).find(f"{{{SOAP11}}}Body")
    assert body is not None and body.find(f"{{{SOAP11}}}Fault") is not None
    assert stack.auth_header[1] not in answer.text
    # nothing changed
    assert stack.option(notice) == before and before["status"] == "payable"
    assert stack.receipts(notice) == []
    assert stack.transitions(notice, "receive_receipt") == 0
    # the same notice paid for real, through pagoPA (with the key), still works
    paid = stack.pay(notice)
    stack.wait_delivery(paid["payment"]["receiptId"])
    assert wait_for(lambda: stack.option(notice)["status"] == "paid", 10, "the option paid")
