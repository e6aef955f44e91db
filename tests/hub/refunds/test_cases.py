"""hub.refunds: cases opened with the anomalies that call for them and by support, each step
by the role that may take it, audited and sent to the Ente's back-office webhook."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hub import payments, refunds
from hub.errors import NotFound
from hub.models import Anomaly, AuditEvent, RefundCase, WebhookDelivery
from hub.notify import webhooks
from hub.positions.writer import cancel_position
from tests.factories import make_ente, make_plan_position, make_position, make_receipt

pytestmark = pytest.mark.pg
IBAN = "IT60X0542811101000000123456"


def _pay(db, ente, option, receipt_id, cents=None):
    receipt = make_receipt(option, ente.fiscal_code, receipt_id=receipt_id, amount_cents=cents)
    return payments.store_receipt(db, receipt)


def _cases(db) -> list[RefundCase]:
    return list(db.scalars(sa.select(RefundCase).order_by(RefundCase.id)))


def test_a_double_payment_across_plans_opens_a_case_for_the_second_receipt(db):
    ente = make_ente(db)
    full, first, *_ = make_plan_position(db, ente).options
    _pay(db, ente, first, "r-1")
    outcome = _pay(db, ente, full, "r-2")
    [case] = _cases(db)
    assert (case.reason, case.status, case.amount_cents) == ("double_payment", "opened", 30000)
    assert case.receipt_pk == outcome.receipt.id and case.option_id == full.id
    anomaly = db.get(Anomaly, case.anomaly_id)
    assert anomaly.kind == "double_payment"


def test_the_same_notice_paid_twice_opens_one_case_not_one_per_anomaly(db):
    ente = make_ente(db)
    option = make_position(db, ente).options[0]
    _pay(db, ente, option, "r-1")
    outcome = _pay(db, ente, option, "r-2", cents=4000)  # twice, and above the amount
    assert set(outcome.anomalies) == {"double_payment", "amount_mismatch"}
    [case] = _cases(db)
    assert (case.reason, case.amount_cents) == ("double_payment", 4000)


def test_an_amount_beyond_the_tolerance_opens_a_case_for_the_excess_only(db):
    ente = make_ente(db)
    small, large = (make_position(db, ente).options[0] for _ in range(2))
    _pay(db, ente, small, "r-1", cents=3000 + refunds.AMOUNT_TOLERANCE_CENTS)
    assert _cases(db) == []
    _pay(db, ente, large, "r-2", cents=3000 + 2500)
    [case] = _cases(db)
    assert (case.reason, case.amount_cents) == ("amount_mismatch", 2500)


def test_a_payment_of_a_cancelled_notice_opens_a_case(db):
    ente = make_ente(db)
    position = make_position(db, ente)
    cancel_position(db, position, cause="test")
    _pay(db, ente, position.options[0], "r-1")
    [case] = _cases(db)
    assert (case.reason, case.amount_cents) == ("paid_after_cancel", 3000)


def test_a_whole_case_every_step_audited_and_sent_to_the_back_office(db):
    ente = make_ente(db)
    webhooks.register_endpoint(db, ente, "https://backoffice.example.it/hook")
    option = make_position(db, ente).options[0]
    _pay(db, ente, option, "r-1")
    case = refunds.open_on_request(
        db,
        ente,
        option.notice_number,
        amount_cents=3000,
        note="paid at the counter too",
        by="ops:support1",
    )
    refunds.step(db, case, "submit", by="ops:support1", as_support=True)
    refunds.step(db, case, "approve", by="ops:anna", as_support=False)
    refunds.step(
        db, case, "order", by="ops:anna", as_support=False, payer_iban=IBAN, amount_cents=2900
    )
    refunds.step(db, case, "confirm", by="ops:anna", as_support=False, bank_reference="CRO 0001")
    assert (case.status, case.amount_cents, case.payer_iban) == ("refunded", 2900, IBAN)
    assert (case.ordered_by, case.decided_by, case.bank_reference) == (
        "ops:anna",
        "ops:anna",
        "CRO 0001",
    )
    actions = db.scalars(
        sa.select(AuditEvent.action)
        .where(AuditEvent.target == f"refund_case:{case.public_id}")
        .order_by(AuditEvent.id)
    ).all()
    assert actions == [
        "refund.open",
        "refund.submit",
        "refund.approve",
        "refund.order",
        "refund.confirm",
    ]
    deliveries = db.scalars(
        sa.select(WebhookDelivery)
        .where(WebhookDelivery.event_type.like("refund.%"))
        .order_by(WebhookDelivery.id)
    ).all()
    assert [d.event_type for d in deliveries] == [
        "refund.opened",
        "refund.awaiting_decision",
        "refund.approved",
        "refund.ordered",
        "refund.refunded",
    ]
    last = deliveries[-1].payload
    assert last["bankReference"] == "CRO 0001" and last["amount"] == "29.00"
    assert IBAN not in str([d.payload for d in deliveries])  # no personal data


def test_each_role_takes_only_its_steps(db):
    ente = make_ente(db)
    option = make_position(db, ente).options[0]
    _pay(db, ente, option, "r-1")
    case = refunds.open_on_request(
        db, ente, option.notice_number, amount_cents=1000, note="asked", by="ops:s"
    )
    with pytest.raises(refunds.RefundError, match="the Ente cannot 'submit'"):
        refunds.step(db, case, "submit", by="ops:anna", as_support=False)
    refunds.step(db, case, "submit", by="ops:s", as_support=True)
    with pytest.raises(refunds.RefundError, match="support cannot 'approve'"):
        refunds.step(db, case, "approve", by="ops:s", as_support=True)
    with pytest.raises(refunds.RefundError, match="support cannot 'reject'"):
        refunds.step(db, case, "reject", by="ops:s", as_support=True, rejection_reason="no")
    assert case.status == "awaiting_decision"


def test_bad_order_and_missing_reason_change_nothing(db):
    ente = make_ente(db)
    option = make_position(db, ente).options[0]
    _pay(db, ente, option, "r-1")
    case = refunds.open_on_request(
        db, ente, option.notice_number, amount_cents=1000, note="asked", by="ops:s"
    )
    refunds.step(db, case, "submit", by="ops:s", as_support=True)
    with pytest.raises(refunds.RefundError, match="reason is needed"):
        refunds.step(db, case, "reject", by="ops:anna", as_support=False, rejection_reason=" ")
    refunds.step(db, case, "approve", by="ops:anna", as_support=False)
    with pytest.raises(refunds.RefundError, match="IBAN is not valid"):
        refunds.step(db, case, "order", by="ops:anna", as_support=False, payer_iban="IT00X")
    with pytest.raises(refunds.RefundError, match="at most the case's amount"):
        refunds.step(
            db, case, "order", by="ops:anna", as_support=False, payer_iban=IBAN, amount_cents=5000
        )
    assert (case.status, case.payer_iban, case.amount_cents) == ("approved", None, 1000)


def test_support_cannot_open_a_case_for_an_unpaid_notice_or_above_what_was_paid(db):
    ente = make_ente(db)
    option = make_position(db, ente).options[0]
    with pytest.raises(NotFound):
        refunds.open_on_request(
            db, ente, option.notice_number, amount_cents=100, note="x", by="ops:s"
        )
    _pay(db, ente, option, "r-1")
    with pytest.raises(refunds.RefundError, match="more than was paid"):
        refunds.open_on_request(
            db, ente, option.notice_number, amount_cents=3001, note="x", by="ops:s"
        )
