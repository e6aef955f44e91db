"""Random event sequences against a real database keep the payment invariants.

A hypothesis RuleBasedStateMachine publishes, verifies, activates, lets activations lapse,
sends receipts (new, duplicate, second payments), cancels, expires, reports and reconciles
one payment option through hub.payments, and after every step checks: no receipt lost or
counted twice, the paid amount equals the receipts, the history replays to the current state,
and terminal states stay terminal.

A second machine (``PlanLifecycle``) plays a debt payable in full or by two instalments: it
verifies, activates, lets activations lapse and sends receipts for any of its options, and
checks that plans are exclusive: an option is refused exactly when another plan is paid or
being paid, the instalments of one plan never block each other, and whenever two plans have
both collected money a ``double_payment`` case is open (no receipt is ever refused).
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy.orm import Session

from hub import clock, payments
from hub.errors import DomainError, DuplicateReceipt, OtherPlanInProgress, OtherPlanPaid
from hub.models import Anomaly, PaymentOption, Receipt, StateTransition
from tests.factories import make_ente, make_plan_position, make_position, make_receipt
from workflows.payment import IllegalTransition

pytestmark = pytest.mark.pg

_ids = itertools.count(1)


class PaymentLifecycle(RuleBasedStateMachine):
    engine: sa.Engine

    def __init__(self) -> None:
        super().__init__()
        self.conn = self.engine.connect()
        self.outer = self.conn.begin()
        self.session = Session(bind=self.conn, join_transaction_mode="create_savepoint")
        self.receipts: dict[str, int] = {}  # receiptId -> cents, what we expect stored
        self.was_reconciled = False

    @initialize()
    def create_option(self) -> None:
        self.ente = make_ente(self.session)
        position = make_position(
            self.session,
            self.ente,
            publish=False,
            retention_date=clock.today() + dt.timedelta(days=10),
        )
        self.option_id = position.options[0].id

    def teardown(self) -> None:
        self.session.close()
        self.outer.rollback()
        self.conn.close()

    @property
    def option(self) -> PaymentOption:
        return self.session.get(PaymentOption, self.option_id)

    def _event(self, event: str, now: dt.datetime | None = None) -> None:
        option = payments.lock_option_by_id(self.session, self.option_id)
        before = option.status
        try:
            with self.session.begin_nested():
                payments.apply_event(self.session, option, event, cause="test", now=now)
        except IllegalTransition:
            assert option.status == before

    @rule()
    def publish(self) -> None:
        self._event("publish")

    @rule()
    def verify(self) -> None:
        option = self.option
        try:
            payments.check_payable(option, clock.today())
            assert option.status in {"payable", "in_progress"}
        except DomainError:
            assert option.status not in {"payable", "in_progress"}

    @rule()
    def activate(self) -> None:
        try:
            with self.session.begin_nested():
                payments.activate(
                    self.session,
                    self.ente,
                    self.option.notice_number,
                    requested_cents=self.option.amount_cents,
                    primitive="paGetPaymentV2",
                )
        except DomainError:
            assert self.option.status not in {"payable", "in_progress"}

    @rule()
    def activation_expires(self) -> None:
        later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        was = self.option.status
        payments.expire_lapsed_activations(self.session, now=later)
        assert self.option.status == ("payable" if was == "in_progress" else was)

    @rule(cents=st.sampled_from([None, 1, 99_999]))
    def receipt(self, cents: int | None) -> None:
        receipt_id = f"r{next(_ids)}"
        receipt = make_receipt(
            self.option, self.ente.fiscal_code, receipt_id=receipt_id, amount_cents=cents
        )
        with self.session.begin_nested():
            payments.store_receipt(self.session, receipt)
        self.receipts[receipt_id] = receipt.payment_amount_cents
        assert self.option.status in {"paid", "reported", "reconciled"}

    @rule()
    def duplicate_receipt(self) -> None:
        if not self.receipts:
            return
        receipt_id = next(iter(self.receipts))
        try:
            with self.session.begin_nested():
                payments.store_receipt(
                    self.session,
                    make_receipt(self.option, self.ente.fiscal_code, receipt_id=receipt_id),
                )
        except DuplicateReceipt:
            return
        raise AssertionError("a duplicate receipt was stored")

    @rule()
    def cancel(self) -> None:
        self._event("cancel")

    @rule()
    def expire(self) -> None:
        self._event("expire", now=dt.datetime.now(dt.UTC) + dt.timedelta(days=30))

    @rule()
    def report(self) -> None:
        self._event("report")

    @rule()
    def reconcile(self) -> None:
        self._event("reconcile")

    @invariant()
    def no_receipt_lost_or_counted_twice(self) -> None:
        if not hasattr(self, "option_id"):
            return
        stored = self.session.execute(
            sa.select(Receipt.receipt_id, Receipt.payment_amount_cents).where(
                Receipt.option_id == self.option_id
            )
        ).all()
        assert dict(stored) == self.receipts
        assert len(stored) == len(self.receipts)
        assert self.option.paid_cents == sum(self.receipts.values())

    @invariant()
    def history_replays_to_the_current_state(self) -> None:
        if not hasattr(self, "option_id"):
            return
        rows = self.session.scalars(
            sa.select(StateTransition)
            .where(StateTransition.option_id == self.option_id)
            .order_by(StateTransition.id)
        ).all()
        state = "draft"
        for row in rows:
            assert row.from_state == state, f"history breaks at {row.event}"
            state = row.to_state
        assert state == self.option.status

    @invariant()
    def terminal_states_stay_terminal(self) -> None:
        if not hasattr(self, "option_id"):
            return
        if self.was_reconciled:
            assert self.option.status == "reconciled"
        self.was_reconciled = self.option.status == "reconciled"


def test_random_event_sequences_keep_the_payment_invariants(pg_engine):
    PaymentLifecycle.engine = pg_engine
    PaymentLifecycle.TestCase.settings = settings(
        max_examples=40,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    PaymentLifecycle.TestCase().runTest()


class PlanLifecycle(RuleBasedStateMachine):
    """Options 0 (pay in full, 300.00) and 1, 2 (instalments of 150.00) of one debt."""

    engine: sa.Engine

    def __init__(self) -> None:
        super().__init__()
        self.conn = self.engine.connect()
        self.outer = self.conn.begin()
        self.session = Session(bind=self.conn, join_transaction_mode="create_savepoint")
        self.receipts: dict[str, tuple[int, int]] = {}  # receiptId -> (option index, cents)
        self.now = clock.now()

    @initialize()
    def create_plan(self) -> None:
        self.ente = make_ente(self.session)
        position = make_plan_position(
            self.session, self.ente, full="300.00", instalments=("150.00", "150.00")
        )
        self.ids = [o.id for o in position.options]

    def teardown(self) -> None:
        self.session.close()
        self.outer.rollback()
        self.conn.close()

    def option(self, index: int) -> PaymentOption:
        return self.session.get(PaymentOption, self.ids[index])

    @staticmethod
    def plan(index: int) -> str:
        return "full" if index == 0 else "instalments"

    def blocked_by(self, index: int) -> str | None:
        """What the model says blocks option ``index``: the strongest state of another plan."""
        others = [self.option(i) for i in range(3) if self.plan(i) != self.plan(index)]
        if any(o.status in {"paid", "reported", "reconciled"} for o in others):
            return "paid"
        if any(o.status == "in_progress" and o.activation_expires_at > self.now for o in others):
            return "in_progress"
        return None

    @rule(index=st.integers(0, 2))
    def verify(self, index: int) -> None:
        option = self.option(index)
        summary = payments.notice_summary(self.session, self.ente.id, option.notice_number)
        expected = self.blocked_by(index)
        with clock.use(clock.FakeClock(self.now)):
            try:
                payments.check_payable(summary, clock.today())
                refused = None
            except OtherPlanPaid:
                refused = "paid"
            except OtherPlanInProgress:
                refused = "in_progress"
            except DomainError:
                assert option.status not in {"payable", "in_progress"}
                return
        if option.status in {"payable", "in_progress"}:
            assert refused == expected, f"option {index} refused for {refused}, not {expected}"

    @rule(index=st.integers(0, 2))
    def activate(self, index: int) -> None:
        before = self.option(index).status
        expected = self.blocked_by(index)
        with clock.use(clock.FakeClock(self.now)):
            try:
                with self.session.begin_nested():
                    payments.activate(
                        self.session,
                        self.ente,
                        self.option(index).notice_number,
                        requested_cents=self.option(index).amount_cents,
                        primitive="paGetPaymentV2",
                        now=self.now,
                    )
            except (OtherPlanPaid, OtherPlanInProgress):
                assert expected is not None and self.option(index).status == before
                return
            except DomainError:
                assert before not in {"payable", "in_progress"}
                return
        assert expected is None, f"option {index} activated while another plan is {expected}"

    @rule()
    def time_passes(self) -> None:
        self.now += dt.timedelta(minutes=20)
        payments.expire_lapsed_activations(self.session, now=self.now)

    @rule(index=st.integers(0, 2))
    def receipt(self, index: int) -> None:
        receipt_id = f"p{next(_ids)}"
        option = self.option(index)
        receipt = make_receipt(option, self.ente.fiscal_code, receipt_id=receipt_id)
        with self.session.begin_nested():
            payments.store_receipt(self.session, receipt, now=self.now)
        self.receipts[receipt_id] = (index, receipt.payment_amount_cents)
        assert self.option(index).status in {"paid", "reported", "reconciled"}

    @invariant()
    def no_receipt_lost(self) -> None:
        if not hasattr(self, "ids"):
            return
        stored = self.session.execute(
            sa.select(Receipt.receipt_id, Receipt.payment_amount_cents).where(
                Receipt.option_id.in_(self.ids)
            )
        ).all()
        assert dict(stored) == {r: cents for r, (_, cents) in self.receipts.items()}
        for index in range(3):
            paid = sum(c for i, c in self.receipts.values() if i == index)
            assert self.option(index).paid_cents == paid

    @invariant()
    def two_plans_paid_means_a_double_payment_case(self) -> None:
        if not hasattr(self, "ids"):
            return
        plans_paid = {self.plan(i) for i, _ in self.receipts.values()}
        cases = self.session.scalar(
            sa.select(sa.func.count())
            .select_from(Anomaly)
            .where(Anomaly.option_id.in_(self.ids), Anomaly.kind == "double_payment")
        )
        if len(plans_paid) > 1:
            assert cases >= 1, "two plans collected money and no double_payment case is open"
        if (
            len(self.receipts) == len({i for i, _ in self.receipts.values()})
            and len(plans_paid) == 1
        ):
            assert cases == 0, "one plan paid once each: no double payment"


def test_random_plan_sequences_keep_plans_exclusive(pg_engine):
    PlanLifecycle.engine = pg_engine
    PlanLifecycle.TestCase.settings = settings(
        max_examples=40,
        stateful_step_count=20,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    PlanLifecycle.TestCase().runTest()
