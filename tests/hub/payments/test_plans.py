"""Plans are exclusive: paying (or being paying) one plan of a debt closes the other plans."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from hub import clock, payments
from hub.errors import OtherPlanInProgress, OtherPlanPaid, PaymentAlreadyPaid
from hub.models import Anomaly, PaymentOption, Receipt
from hub.positions.status import derive_status
from tests.factories import make_ente, make_plan_position, make_receipt

pytestmark = pytest.mark.pg


def _pay(db, ente, option: PaymentOption, receipt_id: str):
    return payments.store_receipt(db, make_receipt(option, ente.fiscal_code, receipt_id=receipt_id))


def _activate(db, ente, option: PaymentOption, now: dt.datetime | None = None) -> None:
    payments.activate(
        db,
        ente,
        option.notice_number,
        requested_cents=option.amount_cents,
        primitive="paGetPaymentV2",
        now=now,
    )


def test_a_paid_instalment_makes_pay_in_full_unpayable_but_not_the_next_instalment(db):
    ente = make_ente(db)
    full, first, second, _third = make_plan_position(db, ente).options
    _pay(db, ente, first, "r-inst-1")

    with pytest.raises(OtherPlanPaid) as refused:
        payments.check_payable(full, clock.today())
    assert isinstance(refused.value, PaymentAlreadyPaid)  # answered PAA_PAGAMENTO_DUPLICATO
    assert payments.check_payable(second, clock.today()) is second
    _activate(db, ente, second)
    assert second.status == "in_progress"
    with pytest.raises(OtherPlanPaid):
        _activate(db, ente, full)
    assert full.status == "payable"


def test_pay_in_full_paid_makes_every_instalment_unpayable(db):
    ente = make_ente(db)
    full, *plan = make_plan_position(db, ente).options
    _pay(db, ente, full, "r-full")
    for instalment in plan:
        summary = payments.notice_summary(db, ente.id, instalment.notice_number)
        with pytest.raises(OtherPlanPaid):
            payments.check_payable(summary, clock.today())


def test_an_activation_in_progress_blocks_the_other_plan_until_it_lapses(db):
    ente = make_ente(db)
    full, first, *_ = make_plan_position(db, ente).options
    _activate(db, ente, full)

    summary = payments.notice_summary(db, ente.id, first.notice_number)
    assert summary is not None and summary.other_plan == "in_progress"
    with pytest.raises(OtherPlanInProgress):
        payments.check_payable(summary, clock.today())

    later = clock.now() + dt.timedelta(hours=1)
    with clock.use(clock.FakeClock(later)):
        assert payments.check_payable(first, clock.today()) is first  # the token lapsed


def test_a_receipt_for_the_other_plan_is_stored_settled_and_opens_a_double_payment(db):
    ente = make_ente(db)
    full, first, *_ = make_plan_position(db, ente).options
    _pay(db, ente, first, "r-inst-1")

    outcome = _pay(db, ente, full, "r-full-anyway")

    assert outcome.anomalies == ["double_payment"]
    assert full.status == "paid" and full.paid_cents == 30000
    stored = db.scalars(sa.select(Receipt.receipt_id).where(Receipt.option_id == full.id)).all()
    assert stored == ["r-full-anyway"]
    detail = db.scalars(sa.select(Anomaly.detail).where(Anomaly.option_id == full.id)).one()
    assert first.notice_number in detail


def test_instalments_of_the_same_plan_never_open_a_double_payment(db):
    ente = make_ente(db)
    _, *plan = make_plan_position(db, ente).options
    anomalies = [_pay(db, ente, o, f"r-{o.instalment_number}").anomalies for o in plan]
    assert anomalies == [[], [], []]
    assert derive_status(plan[0].position.options) == "paid"
