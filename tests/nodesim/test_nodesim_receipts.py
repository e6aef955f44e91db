"""Receipts nodesim sends are what the Node would send: valid, realistic, complete."""

from __future__ import annotations

import re

import pytest

from tests.nodesim.fakestation import EC


@pytest.mark.parametrize("version", [1, 2])
def test_desk_payment_runs_verify_activate_receipt_with_valid_xml(make_node, version):
    node, station = make_node(version)
    result = node.pay_notice(EC, "301000000000000144", psp_id="BCITITMM", method="CP")
    suffix = (
        ["paGetPaymentReq", "paSendRTReq"]
        if version == 1
        else ["paGetPaymentV2Request", "paSendRTV2Request"]
    )
    assert station.names() == ["paVerifyPaymentNoticeReq", *suffix]  # each validated by XSD
    assert result["delivery"]["status"] == "delivered"
    receipt = station.receipts()[0]
    assert re.fullmatch(r"[0-9a-f]{32}", receipt.findtext("receiptId"))
    assert receipt.findtext("paymentAmount") == "30.00"
    assert receipt.findtext("idPSP") == "BCITITMM"
    assert receipt.findtext("fee") == "1.50"
    assert receipt.findtext("paymentMethod") == "creditCard"
    assert receipt.findtext("payer/fullName") == "Mario Rossi"
    assert receipt.findtext("debtor/fullName") == "Luigi Verdi"
    assert receipt.findtext("standIn") == "false"
    assert [t.findtext("transferAmount") for t in receipt.findall("transferList/transfer")] == [
        "20.00",
        "10.00",
    ]
    assert receipt.findtext("creditorReferenceId") == "01000000000000144"


def test_get_payment_asks_for_the_verified_amount(make_node):
    node, station = make_node()
    node.pay_notice(EC, "301000000000000245")
    assert station.requests[1].findtext("amount") == "41.50"


def test_refused_notice_stops_before_any_money_is_taken(make_node):
    from nodesim.node import PaymentRefused

    node, station = make_node()
    with pytest.raises(PaymentRefused) as info:
        node.pay_notice(EC, "399999999999999999")
    assert info.value.fault_code == "PAA_PAGAMENTO_SCONOSCIUTO"
    assert station.names() == ["paVerifyPaymentNoticeReq"]
    assert node.deliverer.all() == []


def test_standin_receipt_skips_verify_and_activation_and_says_standin(make_node):
    node, station = make_node()
    node.pay_standin(EC, "301000000000000346", "12.00", iuv="01000000000000346")
    assert station.names() == ["paSendRTV2Request"]  # validated against the XSD
    receipt = station.receipts()[0]
    assert receipt.findtext("standIn") == "true"
    assert receipt.findtext("paymentAmount") == "12.00"


def test_unknown_method_for_a_psp_is_refused_before_calling_the_station(make_node):
    node, station = make_node()
    with pytest.raises(ValueError, match="does not offer"):
        node.pay_notice(EC, "301000000000000144", psp_id="SISLITM1", method="CP")
    assert station.requests == []


@pytest.mark.parametrize(
    ("utc", "local"),
    [
        ("2026-01-15T23:30:00+00:00", "2026-01-16T00:30:00"),  # winter: +01:00, the next day
        ("2026-07-15T12:05:09+00:00", "2026-07-15T14:05:09"),  # summer: +02:00
    ],
)
def test_receipt_times_are_italian_local_time_without_offset_as_the_node_writes_them(
    make_node, clock, utc, local
):
    import datetime as dt

    from soap.receipts import _datetime

    clock._frozen = dt.datetime.fromisoformat(utc)
    node, station = make_node(2)
    node.pay_notice(EC, "301000000000000144", psp_id="BCITITMM", method="CP")
    receipt = station.receipts()[0]
    assert receipt.findtext("paymentDateTime") == local
    assert receipt.findtext("applicationDate") == local[:10]  # the Italian calendar day
    # and payhub, reading it as the Node's offset-less Italian time, stores the right instant
    assert _datetime(receipt, "paymentDateTime") == dt.datetime.fromisoformat(utc)
