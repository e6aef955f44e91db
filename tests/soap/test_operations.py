"""Every operation over the whole app, OK and KO, checked as the Node would check it."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.pg

PATH = "/soap/paForNode"
EC, BROKER, STATION = "77777777777", "77777777777", "77777777777_01"
SANP = "311111111112222222"


def envelope(inner: str) -> bytes:
    return (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:pafn="http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd"><soapenv:Body>'
        f"{inner}</soapenv:Body></soapenv:Envelope>"
    ).encode()


def caller(id_pa: str = EC, broker: str = BROKER, station: str = STATION) -> str:
    return f"<idPA>{id_pa}</idPA><idBrokerPA>{broker}</idBrokerPA><idStation>{station}</idStation>"


def verify_req(notice: str = SANP, fiscal_code: str = EC, **kw) -> bytes:
    return envelope(
        f"<pafn:paVerifyPaymentNoticeReq>{caller(**kw)}<qrCode><fiscalCode>"
        f"{fiscal_code}</fiscalCode><noticeNumber>{notice}</noticeNumber></qrCode>"
        "</pafn:paVerifyPaymentNoticeReq>"
    )


def get_payment_req(
    notice: str = SANP, *, v2: bool = True, amount: str = "30.00", fiscal_code: str = EC, **kw
) -> bytes:
    tag = "paGetPaymentV2Request" if v2 else "paGetPaymentReq"
    return envelope(
        f"<pafn:{tag}>{caller(**kw)}<qrCode><fiscalCode>{fiscal_code}</fiscalCode>"
        f"<noticeNumber>{notice}</noticeNumber></qrCode><amount>{amount}</amount>"
        f"</pafn:{tag}>"
    )


def post(app, body: bytes, action: str | None = None, status: int = 200):
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    if action is not None:
        headers["SOAPAction"] = action
    return app.post(PATH, body, headers=headers, status=status)


def fault_code(res) -> str | None:
    return res.findtext("fault/faultCode")


def test_verify_answers_the_sanp_notice_with_its_current_amount(app, check):
    res = check(post(app, verify_req(), "paVerifyPaymentNotice").body)
    assert res.findtext("outcome") == "OK"
    assert res.findtext("paymentList/paymentOptionDescription/amount") == "30.00"
    assert res.findtext("paymentList/paymentOptionDescription/options") == "EQ"
    assert res.findtext("fiscalCodePA") == EC


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"id_pa": "00000000001"}, "PAA_ID_DOMINIO_ERRATO"),
        ({"broker": "12345678901"}, "PAA_ID_INTERMEDIARIO_ERRATO"),
        ({"station": "77777777777_99"}, "PAA_STAZIONE_INT_ERRATA"),
        ({"notice": "311111111119999999"}, "PAA_PAGAMENTO_SCONOSCIUTO"),
        ({"fiscal_code": "00112233555"}, "PAA_PAGAMENTO_SCONOSCIUTO"),
    ],
)
def test_verify_refuses_what_it_does_not_serve(app, check, kwargs, code):
    res = check(post(app, verify_req(**kwargs)).body)
    assert (res.findtext("outcome"), fault_code(res)) == ("KO", code)
    assert res.findtext("fault/id")


def test_schema_invalid_request_is_answered_sintassi_saying_what_is_wrong(app, check):
    res = check(post(app, verify_req(notice="12345")).body)
    assert fault_code(res) == "PAA_SINTASSI_XSD"
    assert "noticeNumber" in res.findtext("fault/description")


def test_get_payment_v2_returns_transfers_and_moves_to_in_progress(app, check, seeded):
    import sqlalchemy as sa

    from hub.models import PaymentOption, StateTransition

    res = check(post(app, get_payment_req(), "paGetPaymentV2").body)
    assert res.findtext("outcome") == "OK"
    assert res.findtext("data/creditorReferenceId") == "11111111112222222"
    assert [t.findtext("transferAmount") for t in res.findall("data/transferList/transfer")] == [
        "20.00",
        "10.00",
    ]
    with seeded() as s:
        option = s.scalars(
            sa.select(PaymentOption).where(PaymentOption.notice_number == SANP)
        ).one()
        assert option.status == "in_progress"
        events = s.scalars(
            sa.select(StateTransition.event).where(StateTransition.option_id == option.id)
        ).all()
        assert events.count("activate") == 1
    # a repeat (e.g. after the Node's token expired) is answered OK with the same data
    again = check(post(app, get_payment_req(), "paGetPaymentV2").body)
    assert again.findtext("outcome") == "OK"
    assert again.findtext("data/paymentAmount") == "30.00"


def test_get_payment_v1_answers_with_iban_transfers(app, check):
    res = check(post(app, get_payment_req(v2=False), '"paGetPayment"').body)
    assert res.findtext("outcome") == "OK"
    assert all(t.findtext("IBAN") for t in res.findall("data/transferList/transfer"))


def test_cancelled_and_paid_notices_are_refused_with_their_codes(app, check, seeded):
    import sqlalchemy as sa

    from hub.models import PaymentOption

    with seeded() as s:
        by_status = {o.status: o.notice_number for o in s.scalars(sa.select(PaymentOption))}
    for status, code in (
        ("cancelled", "PAA_PAGAMENTO_ANNULLATO"),
        ("paid", "PAA_PAGAMENTO_DUPLICATO"),
    ):
        for body in (verify_req(by_status[status]), get_payment_req(by_status[status])):
            res = check(post(app, body).body)
            assert fault_code(res) == code
