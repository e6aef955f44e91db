"""paVerifyPaymentNotice / paGetPayment refuse the other plan of a debt with the fitting fault:
PAA_PAGAMENTO_DUPLICATO once it is paid, PAA_PAGAMENTO_IN_CORSO while it is being paid."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hub import payments
from hub.models import DebtPosition, PaymentOption
from hub.seed import SECOND_EC
from tests.factories import make_receipt
from tests.soap.test_operations import fault_code, get_payment_req, post, verify_req

pytestmark = pytest.mark.pg


def _plan(session) -> list[PaymentOption]:
    position = session.scalars(
        sa.select(DebtPosition).where(DebtPosition.iupd == "TARI-2026-0001")
    ).one()
    return list(position.options)  # pay in full 300.00, then 3 x 100.00


def _notices(seeded) -> list[str]:
    with seeded() as s:
        return [o.notice_number for o in _plan(s)]


def test_a_paid_instalment_closes_pay_in_full_but_not_the_next_instalment(app, check, seeded):
    full, first, second, _ = _notices(seeded)
    with seeded() as s:
        option = _plan(s)[1]
        payments.store_receipt(s, make_receipt(option, SECOND_EC, receipt_id="tari-1"))
        s.commit()

    for body in (verify_req(full, SECOND_EC), get_payment_req(full, fiscal_code=SECOND_EC)):
        res = check(post(app, body).body)
        assert fault_code(res) == "PAA_PAGAMENTO_DUPLICATO"
        assert "another payment plan" in res.findtext("fault/description")
    res = check(post(app, verify_req(second, SECOND_EC)).body)
    assert res.findtext("outcome") == "OK"
    assert first != second


def test_pay_in_full_in_progress_makes_the_instalments_answer_in_corso(app, check, seeded):
    full, first, *_ = _notices(seeded)
    res = check(post(app, get_payment_req(full, amount="300.00", fiscal_code=SECOND_EC)).body)
    assert res.findtext("outcome") == "OK"

    for body in (verify_req(first, SECOND_EC), get_payment_req(first, fiscal_code=SECOND_EC)):
        res = check(post(app, body).body)
        assert fault_code(res) == "PAA_PAGAMENTO_IN_CORSO"
        assert res.findtext("fault/faultString") == (
            "Pagamento in attesa risulta in corso all'Ente Creditore"
        )
