"""SEND notification fees at the station: the fee is in the amount the Node is told (verify
and paGetPayment), in the Ente's own transfer, and in paGetPaymentV2's metadata as
NOTIFICATION_FEE; the answers stay valid against the official XSD."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hub.errors import Conflict
from hub.models import DebtPosition, Ente, PaymentOption
from hub.positions.fees import set_notification_fee
from hub.positions.inputs import DebtPositionReplace
from hub.positions.writer import replace_position
from tests.soap.test_operations import SANP, get_payment_req, post, verify_req

pytestmark = pytest.mark.pg


def _option_id(factory) -> int:
    with factory() as s:
        return s.scalar(sa.select(PaymentOption.id).where(PaymentOption.notice_number == SANP))


def test_the_fee_is_in_the_amounts_and_the_metadata_the_node_gets(app, check, seeded):
    option_id = _option_id(seeded)
    with seeded.begin() as s:
        set_notification_fee(s, option_id, 200)
    with seeded.begin() as s:  # set again: replaces, not adds
        option = set_notification_fee(s, option_id, 150)
        assert option.amount_cents == 3150
    verify = check(post(app, verify_req(), "paVerifyPaymentNotice").body)
    assert verify.findtext("paymentList/paymentOptionDescription/amount") == "31.50"
    res = check(post(app, get_payment_req(amount="31.50"), "paGetPaymentV2").body)
    assert res.findtext("data/paymentAmount") == "31.50"
    amounts = [t.findtext("transferAmount") for t in res.findall("data/transferList/transfer")]
    assert amounts == ["21.50", "10.00"]  # the Ente's own transfer carries it
    entries = {
        e.findtext("key"): e.findtext("value") for e in res.findall("data/metadata/mapEntry")
    }
    assert entries == {"NOTIFICATION_FEE": "150"}
    with seeded.begin() as s, pytest.raises(Conflict):  # being paid: the fee cannot change
        set_notification_fee(s, option_id, 300)


def test_a_replace_keeps_the_fee_in_the_amounts(seeded):
    option_id = _option_id(seeded)
    with seeded.begin() as s:
        set_notification_fee(s, option_id, 150)
    with seeded.begin() as s:
        option = s.get(PaymentOption, option_id)
        position = s.get(DebtPosition, option.position_id)
        ente = s.get(Ente, position.ente_id)
        data = DebtPositionReplace.of(
            debtor_type=position.debtor_type,
            debtor_fiscal_code=position.debtor_fiscal_code,
            debtor_name=position.debtor_name,
            description=position.description,
            options=[
                {
                    "amount": "40.00",
                    "due_date": option.due_date,
                    "notice_number": option.notice_number,
                    "transfers": [
                        {
                            "amount": amount,
                            "remittance_information": t.remittance_information,
                            "category": t.category,
                            "iban": t.iban,
                            "beneficiary_fiscal_code": t.beneficiary_fiscal_code,
                        }
                        for amount, t in zip(
                            ("30.00", "10.00"),
                            sorted(option.transfers, key=lambda t: t.id_transfer),
                            strict=True,
                        )
                    ],
                }
            ],
        )
        replace_position(
            s,
            ente,
            position,
            data,
            cause="test",
            strict_identifiers=False,
            verify_check_digits=False,  # the demo SANP notice has pagoPA's test check digits
        )
        assert option.amount_cents == 4150
        assert sum(t.amount_cents for t in option.transfers) == 4150


def test_a_fee_send_prices_takes_its_price_at_get_payment_and_survives_send_failing(
    make_app, check, seeded
):
    import requests
    from webtest.http import StopableWSGIServer

    from nodesim.app import make_app as make_sim

    server = StopableWSGIServer.create(
        make_sim({"nodesim.background": "false", "nodesim.rest_key": "send-key"})
    )
    try:
        base = server.application_url.rstrip("/")
        app = make_app(**{"payhub.send_url": base, "payhub.send_key": "send-key"})
        option_id = _option_id(seeded)
        with seeded.begin() as s:
            set_notification_fee(s, option_id, 100, source="send")  # notified through SEND
        ec = "77777777777"
        requests.post(
            f"{base}/api/send/prices",
            json={"paTaxId": ec, "noticeCode": SANP, "totalPrice": 265},
            timeout=5,
        )
        res = check(post(app, get_payment_req(amount="31.00"), "paGetPaymentV2").body)
        assert res.findtext("data/paymentAmount") == "32.65"  # 30.00 + SEND's 2.65
        assert res.findtext("data/metadata/mapEntry/value") == "265"
        # SEND down: the stored fee stands and the payment goes on
        from hub.models import Ente
        from hub.positions.fees import SendPrices, refresh_from_send
        from tests.factories import make_position

        requests.post(f"{base}/api/send/prices", json={"fail": 1}, timeout=5)
        with seeded.begin() as s:
            ente = s.scalar(sa.select(Ente).where(Ente.fiscal_code == ec))
            other = make_position(s, ente, iupd="SEND-DOWN").options[0]
            set_notification_fee(s, other.id, 120, source="send")
            prices = SendPrices(base, "send-key")
            assert refresh_from_send(s, prices, other, ec) == 120  # SEND answered 500
            assert other.amount_cents == 3120
            requests.post(
                f"{base}/api/send/prices",
                json={"paTaxId": ec, "noticeCode": other.notice_number, "totalPrice": 90},
                timeout=5,
            )
            assert refresh_from_send(s, prices, other, ec) == 90
            assert other.amount_cents == 3090
    finally:
        server.shutdown()
