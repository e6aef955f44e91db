"""Against a real HTTP server on loopback: zeep as an independent client, and concurrency."""

from __future__ import annotations

import base64
import concurrent.futures as cf
import threading

import pytest
import requests
import sqlalchemy as sa
from webtest.http import StopableWSGIServer

from tests.conftest import shared_path
from tests.soap.test_operations import SANP, get_payment_req

pytestmark = [pytest.mark.pg, pytest.mark.slow]
SANP_DIR = ("peer-material", "soap-samples", "official-sanp")


@pytest.fixture
def server(wsgi_app, seeded):
    # 7 threads: each committing request holds two pooled connections for a moment (its own,
    # and the outbox relay's after commit); the default pool is 5 + 10 overflow
    srv = StopableWSGIServer.create(wsgi_app, threads=7, connection_limit=200)
    yield srv.application_url.rstrip("/") + "/soap/paForNode"
    srv.shutdown()


def test_zeep_with_the_official_wsdl_calls_all_six_operations(server, seeded):
    import zeep

    from hub.models import Ente, PaymentService, ServiceKind

    with seeded() as s:
        ec = s.scalars(sa.select(Ente).where(Ente.fiscal_code == "77777777777")).one()
        s.add(
            PaymentService(
                ente=ec,
                code="SEGRE",
                label="Diritti di segreteria",
                taxonomy="9/0101108TS/",
                default_iban=ec.iban,
                kind=ServiceKind.SPONTANEOUS,
            )
        )
        s.commit()
    client = zeep.Client(str(shared_path("pagopa", "wsdl", "paForNode.wsdl")))
    svc = client.create_service(
        "{http://pagopa-api.pagopa.gov.it/paForNode}paForNodeBinding", server
    )
    who = {"idPA": "77777777777", "idBrokerPA": "77777777777", "idStation": "77777777777_01"}
    qr = {"fiscalCode": "77777777777", "noticeNumber": SANP}

    verified = svc.paVerifyPaymentNotice(**who, qrCode=qr)
    assert (
        verified.outcome == "OK"
        and str(verified.paymentList.paymentOptionDescription.amount) == "30.00"
    )
    got = svc.paGetPayment(**who, qrCode=qr, amount="30.00")
    assert got.outcome == "OK" and len(got.data.transferList.transfer) == 2
    got2 = svc.paGetPaymentV2(**who, qrCode=qr, amount="30.00")
    assert got2.outcome == "OK" and got2.data.companyName

    sample = client.wsdl.types.get_element(
        "{http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd}paSendRTV2Request"
    )
    raw = shared_path(*SANP_DIR, "paSendRTV2Request.xml").read_bytes()
    from lxml import etree

    body = etree.fromstring(raw).find(".//{*}paSendRTV2Request")
    parsed = sample.parse(body, client.wsdl.types)
    sent = svc.paSendRTV2(**who, receipt=parsed.receipt)
    assert sent.outcome == "OK"
    parsed.receipt.receiptId = "zeep-v1-receipt"
    v1 = client.wsdl.types.get_element(
        "{http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd}paSendRTReq"
    )
    v1_receipt = v1.parse(
        etree.fromstring(shared_path(*SANP_DIR, "paSendRTReq.xml").read_bytes()).find(
            ".//{*}paSendRTReq"
        ),
        client.wsdl.types,
    ).receipt
    v1_receipt.receiptId = "zeep-v1-receipt"
    sent_v1 = svc.paSendRT(**who, receipt=v1_receipt)
    assert sent_v1.outcome == "OK"  # a second receipt for a paid notice: stored and flagged

    data = base64.b64encode(
        b"<service><amount>12.50</amount><debtorFiscalCode>"
        b"RSSMRA80A01H501U</debtorFiscalCode><debtorName>Mario Rossi"
        b"</debtorName></service>"
    )
    demanded = svc.paDemandPaymentNotice(
        **who,
        idServizio="SEGRE",
        idSoggettoServizio="00001",
        datiSpecificiServizioRequest=base64.b64decode(data),
    )
    assert demanded.outcome == "OK", demanded.fault
    assert str(demanded.paymentList.paymentOptionDescription.amount) == "12.50"
    again = svc.paVerifyPaymentNotice(
        **who, qrCode={"fiscalCode": "77777777777", "noticeNumber": demanded.qrCode.noticeNumber}
    )
    assert again.outcome == "OK"


def _post_all(url: str, body: bytes, n: int = 50) -> list[requests.Response]:
    barrier = threading.Barrier(n)

    def one(_):
        barrier.wait()
        return requests.post(url, data=body, headers={"Content-Type": "text/xml"}, timeout=30)

    with cf.ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def test_fifty_identical_receipts_store_one_and_answer_the_rest_duplicate(
    server, seeded, official_xsd
):
    from hub.models import PaymentOption, Receipt, StateTransition
    from tests.soap.soapcheck import check_response

    body = shared_path(*SANP_DIR, "paSendRTV2Request.xml").read_bytes()
    answers = _post_all(server, body)
    assert {r.status_code for r in answers} == {200}
    results = [check_response(r.content, official_xsd) for r in answers]
    outcomes = sorted((r.findtext("outcome"), r.findtext("fault/faultCode")) for r in results)
    assert outcomes.count(("OK", None)) == 1
    assert outcomes.count(("KO", "PAA_RECEIPT_DUPLICATA")) == 49
    with seeded() as s:
        option = s.scalars(
            sa.select(PaymentOption).where(PaymentOption.notice_number == SANP)
        ).one()
        assert option.status == "paid"
        assert (
            s.scalar(
                sa.select(sa.func.count())
                .select_from(Receipt)
                .where(Receipt.option_id == option.id)
            )
            == 1
        )
        assert (
            s.scalar(
                sa.select(sa.func.count())
                .select_from(StateTransition)
                .where(
                    StateTransition.option_id == option.id,
                    StateTransition.event == "receive_receipt",
                )
            )
            == 1
        )


def test_fifty_concurrent_get_payments_all_answer_ok_with_the_same_data(
    server, seeded, official_xsd
):
    from hub.models import PaymentAttempt, PaymentOption
    from tests.soap.soapcheck import check_response

    answers = _post_all(server, get_payment_req())
    assert {r.status_code for r in answers} == {200}
    results = [check_response(r.content, official_xsd) for r in answers]
    assert {r.findtext("outcome") for r in results} == {"OK"}
    datas = {tuple((e.tag, e.text) for e in r.find("data").iter()) for r in results}
    assert len(datas) == 1
    with seeded() as s:
        option = s.scalars(
            sa.select(PaymentOption).where(PaymentOption.notice_number == SANP)
        ).one()
        assert option.status == "in_progress"
        assert (
            s.scalar(
                sa.select(sa.func.count())
                .select_from(PaymentAttempt)
                .where(PaymentAttempt.option_id == option.id)
            )
            == 50
        )
