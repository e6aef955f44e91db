"""Replaying pagoPA's own request samples: official SANP examples and the mock-EC corpus."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.soap.test_operations import PATH, post, verify_req

pytestmark = pytest.mark.pg


def test_official_sanp_samples_replay_to_the_documented_outcomes(app, check, samples, seeded):
    from hub.models import Anomaly, PaymentOption, Receipt

    sanp = samples / "official-sanp"
    for name, action in (
        ("paVerifyPaymentNoticeReq.xml", "paVerifyPaymentNotice"),
        ("paGetPaymentReq.xml", "paGetPayment"),
        ("paGetPaymentV2Request.xml", "paGetPaymentV2"),
    ):
        res = check(post(app, (sanp / name).read_bytes(), action).body)
        assert res.findtext("outcome") == "OK", name
    res = check(post(app, (sanp / "paSendRTV2Request.xml").read_bytes(), "paSendRTV2").body)
    assert res.findtext("outcome") == "OK"
    # the same receiptId again (V1 shape): stored already, nothing new
    res = check(post(app, (sanp / "paSendRTReq.xml").read_bytes(), "paSendRT").body)
    assert res.findtext("fault/faultCode") == "PAA_RECEIPT_DUPLICATA"
    res = check(post(app, verify_req()).body)
    assert res.findtext("fault/faultCode") == "PAA_PAGAMENTO_DUPLICATO"
    with seeded() as s:
        option = s.scalars(
            sa.select(PaymentOption).where(PaymentOption.notice_number == "311111111112222222")
        ).one()
        assert option.status == "paid"
        receipts = s.scalars(sa.select(Receipt).where(Receipt.option_id == option.id)).all()
        assert len(receipts) == 1 and receipts[0].payment_amount_cents == 3000
        assert receipts[0].fee_cents == 200 and receipts[0].standin is False
        assert (
            s.scalar(
                sa.select(sa.func.count())
                .select_from(Anomaly)
                .where(Anomaly.option_id == option.id)
            )
            == 0
        )


def test_docs_literal_standin_receipt_is_accepted(app, check, samples):
    body = (samples / "official-sanp" / "paSendRTReq.docs-literal-standin.xml").read_bytes()
    res = check(post(app, body.replace(b"c110729d258c4ab1b765fe902aae41d6", b"standin-1")).body)
    assert res.findtext("outcome") == "OK"


def test_receipt_for_unknown_notice_is_stored_answered_ok_and_flagged(app, check, samples, seeded):
    from hub.models import Anomaly, Receipt

    body = (samples / "official-sanp" / "paSendRTV2Request.xml").read_bytes()
    body = body.replace(b"311111111112222222", b"399999999999999999")
    res = check(post(app, body).body)
    assert res.findtext("outcome") == "OK"
    with seeded() as s:
        receipt = s.scalars(
            sa.select(Receipt).where(Receipt.notice_number == "399999999999999999")
        ).one()
        assert receipt.option_id is None
        kinds = s.scalars(sa.select(Anomaly.kind).where(Anomaly.receipt_pk == receipt.id)).all()
        assert kinds == ["unknown_notice"]


def test_mock_ec_requests_get_an_answer_or_a_fault_never_a_bare_error(app, check, samples):
    for path in sorted((samples / "pagopa-mock-ec" / "resources").glob("*.xml")):
        resp = app.post(
            PATH, path.read_bytes(), headers={"Content-Type": "text/xml"}, expect_errors=True
        )
        assert resp.content_type == "text/xml", path.name
        if resp.status_int == 200:
            res = check(resp.body)
            assert res.findtext("outcome") in ("OK", "KO"), path.name
        else:
            assert resp.status_int == 500, path.name
            assert b"Fault" in resp.body and b"Traceback" not in resp.body, path.name


def test_gpd_namespace_styles_are_equivalent(app, check):
    default_ns = (
        b'<?xml version="1.0" encoding="utf-8"?><Envelope '
        b'xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Body><paVerifyPaymentNoticeReq '
        b'xmlns="http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd"><idPA xmlns="">77777777777'
        b'</idPA><idBrokerPA xmlns="">77777777777</idBrokerPA><idStation xmlns="">'
        b'77777777777_01</idStation><qrCode xmlns=""><fiscalCode>77777777777</fiscalCode>'
        b"<noticeNumber>311111111112222222</noticeNumber></qrCode></paVerifyPaymentNoticeReq>"
        b"</Body></Envelope>"
    )
    qualified = default_ns.replace(b' xmlns=""', b"")  # children in the paForNode namespace
    zeep_style = verify_req().replace(b"pafn:", b"ns0:").replace(b"xmlns:pafn", b"xmlns:ns0")
    for body in (default_ns, qualified, zeep_style):
        for action in (
            None,
            "paVerifyPaymentNotice",
            "paVerifyPaymentNoticeReq",
            '"paVerifyPaymentNotice"',
            "something-else",
        ):
            res = check(post(app, body, action).body)
            assert res.findtext("outcome") == "OK"


def test_whitespace_and_short_codes_are_syntax_errors(app, check, samples):
    path = (
        samples.parent
        / "gpd-payments"
        / "soap-templates"
        / "perf_request_paVerifyPaymentNoticeReq_NEGATIVE_whitespace_and_6digit_idPA.xml"
    )
    res = check(post(app, path.read_bytes()).body)
    assert res.findtext("fault/faultCode") == "PAA_SINTASSI_XSD"
