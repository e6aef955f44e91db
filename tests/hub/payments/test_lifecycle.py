"""hub.payments: activation and receipts change state only through the flow, atomically."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import sqlalchemy as sa

from hub import clock, outbox, payments
from hub.errors import (
    DuplicateReceipt,
    PaymentAlreadyPaid,
    PaymentCancelled,
    PaymentExpired,
    PaymentUnknown,
)
from hub.models import Anomaly, OutboxMessage, PaymentOption, Receipt, StateTransition
from tests.factories import make_ente, make_position, make_receipt
from workflows.payment import IllegalTransition

pytestmark = pytest.mark.pg


def _option(position) -> PaymentOption:
    return position.options[0]


def _count(session, model, *where) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def test_activation_moves_option_to_in_progress_and_records_the_attempt(db):
    ente = make_ente(db)
    option = _option(make_position(db, ente))
    payments.activate(
        db, ente, option.notice_number, requested_cents=3000, primitive="paGetPaymentV2"
    )
    assert option.status == "in_progress"
    assert option.activation_expires_at is not None
    events = db.scalars(
        sa.select(StateTransition.event)
        .where(StateTransition.option_id == option.id)
        .order_by(StateTransition.id)
    ).all()
    assert events == ["publish", "activate"]


def test_activation_again_after_the_token_lapsed_still_succeeds(db):
    ente = make_ente(db)
    option = _option(make_position(db, ente))
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    payments.activate(
        db, ente, option.notice_number, requested_cents=3000, primitive="paGetPayment", now=past
    )
    payments.activate(
        db, ente, option.notice_number, requested_cents=3000, primitive="paGetPayment"
    )
    assert option.status == "in_progress"
    assert option.activation_expires_at > dt.datetime.now(dt.UTC)


@pytest.mark.parametrize(
    ("setup", "error"),
    [
        ("unknown", PaymentUnknown),
        ("draft", PaymentUnknown),
        ("cancelled", PaymentCancelled),
        ("paid", PaymentAlreadyPaid),
        ("past_retention", PaymentExpired),
    ],
)
def test_activation_of_a_notice_that_cannot_be_paid_says_why(db, setup, error):
    ente = make_ente(db)
    retention = clock.today() - dt.timedelta(days=1) if setup == "past_retention" else None
    option = _option(make_position(db, ente, publish=setup != "draft", retention_date=retention))
    notice = "399999999999999903" if setup == "unknown" else option.notice_number
    if setup == "cancelled":
        payments.apply_event(db, option, "cancel", cause="test")
    if setup == "paid":
        payments.store_receipt(db, make_receipt(option, ente.fiscal_code))
    before = _count(db, StateTransition)
    with pytest.raises(error):
        payments.activate(db, ente, notice, requested_cents=3000, primitive="paGetPayment")
    assert _count(db, StateTransition) == before


def test_receipt_pays_the_option_and_writes_history_and_outbox_in_one_go(db):
    ente = make_ente(db)
    option = _option(make_position(db, ente))
    outcome = payments.store_receipt(db, make_receipt(option, ente.fiscal_code))
    assert option.status == "paid" and option.paid_cents == option.amount_cents
    assert outcome.anomalies == []
    assert (
        _count(
            db,
            StateTransition,
            StateTransition.option_id == option.id,
            StateTransition.to_state == "paid",
        )
        == 1
    )
    # the receipt's follow-up; publishing writes none (nothing consumes it)
    assert _count(db, OutboxMessage, OutboxMessage.actor_name == "payment_status_changed") == 1


def test_same_receipt_twice_is_refused_and_stores_nothing_new(db):
    ente = make_ente(db)
    option = _option(make_position(db, ente))
    payments.store_receipt(db, make_receipt(option, ente.fiscal_code))
    counts = (_count(db, Receipt), _count(db, StateTransition), _count(db, OutboxMessage))
    with pytest.raises(DuplicateReceipt):
        payments.store_receipt(db, make_receipt(option, ente.fiscal_code))
    assert (_count(db, Receipt), _count(db, StateTransition), _count(db, OutboxMessage)) == counts


def test_second_receipt_with_another_id_is_kept_and_opens_a_double_payment_case(db):
    ente = make_ente(db)
    option = _option(make_position(db, ente))
    payments.store_receipt(db, make_receipt(option, ente.fiscal_code, receipt_id="a"))
    outcome = payments.store_receipt(db, make_receipt(option, ente.fiscal_code, receipt_id="b"))
    assert outcome.anomalies == ["double_payment"]
    assert option.status == "paid" and option.paid_cents == 2 * option.amount_cents


@pytest.mark.parametrize(
    ("event", "anomaly"), [("cancel", "paid_after_cancel"), ("expire", "paid_after_expiry")]
)
def test_receipt_for_a_cancelled_or_expired_notice_is_stored_and_flagged(db, event, anomaly):
    ente = make_ente(db)
    option = _option(make_position(db, ente, retention_date=clock.today() - dt.timedelta(days=2)))
    payments.apply_event(db, option, event, cause="test")
    outcome = payments.store_receipt(db, make_receipt(option, ente.fiscal_code))
    assert option.status == "paid"
    assert anomaly in outcome.anomalies


def test_receipt_for_an_unknown_notice_is_stored_without_option_and_flagged(db):
    ente = make_ente(db)
    outcome = payments.store_receipt(db, make_receipt("399999999999999903", ente.fiscal_code))
    assert outcome.receipt.id is not None and outcome.receipt.option_id is None
    assert (
        _count(
            db, Anomaly, Anomaly.kind == "unknown_notice", Anomaly.receipt_pk == outcome.receipt.id
        )
        == 1
    )


def test_standin_receipt_without_activation_is_flagged_but_pays(db):
    ente = make_ente(db)
    option = _option(make_position(db, ente))
    outcome = payments.store_receipt(db, make_receipt(option, ente.fiscal_code, standin=True))
    assert outcome.anomalies == ["standin_receipt"] and option.status == "paid"


def test_standin_receipt_after_our_activation_pays_without_flag(db):
    ente = make_ente(db)
    option = _option(make_position(db, ente))
    notice = option.notice_number
    payments.activate(db, ente, notice, requested_cents=3000, primitive="paGetPayment")
    outcome = payments.store_receipt(db, make_receipt(option, ente.fiscal_code, standin=True))
    assert outcome.anomalies == [] and option.status == "paid"


def test_stored_receipt_row_holds_what_the_orm_would_have_written(db):
    ente = make_ente(db)
    option = _option(make_position(db, ente))
    receipt = make_receipt(option, ente.fiscal_code, receipt_id="row-1")
    receipt.debtor = {"fullName": "Mario Rossi"}
    receipt.metadata_entries = None  # a JSON column keeps a JSON null, as the ORM writes it
    outcome = payments.store_receipt(db, receipt)
    assert outcome.receipt is receipt and receipt in db and receipt not in db.new
    row = db.execute(
        sa.select(
            Receipt.ente_id,
            Receipt.option_id,
            Receipt.payment_amount_cents,
            Receipt.debtor,
            Receipt.outcome,
            Receipt.test,
            Receipt.raw_xml,
            sa.cast(Receipt.metadata_entries, sa.Text),
        ).where(Receipt.id == receipt.id)
    ).one()
    assert tuple(row) == (
        ente.id,
        option.id,
        option.amount_cents,
        {"fullName": "Mario Rossi"},
        "OK",
        False,
        "<paSendRTV2Request/>",
        "null",
    )
    db.flush()
    assert not db.dirty  # nothing left for the commit to write again


def test_receipt_writes_option_history_and_outbox_at_once_as_the_orm_would(db):
    ente = make_ente(db)
    option = _option(make_position(db, ente))
    db.flush()
    version = option.version
    lease = dt.timedelta(seconds=60)
    db.info["outbox_lease"] = lambda: lease  # as the relay's sessions carry it
    payments.store_receipt(db, make_receipt(option, ente.fiscal_code, receipt_id="now-1"))
    assert not db.new and not db.dirty  # written already: nothing left for the commit's flush
    row = db.execute(
        sa.select(
            PaymentOption.status,
            PaymentOption.paid_cents,
            PaymentOption.version,
            PaymentOption.activation_expires_at,
        ).where(PaymentOption.id == option.id)
    ).one()
    assert tuple(row) == ("paid", option.amount_cents, version + 1, None)
    assert (option.status, option.version, option.paid_at is not None) == (
        "paid",
        version + 1,
        True,
    )
    message = db.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.actor_name == "payment_status_changed")
    ).one()
    assert message.attempts == 1 and message.lease_until == message.sent_at + lease
    assert message.args["to_state"] == "paid"
    assert [m["id"] for m in outbox.take_pending(db)] == [message.id]


def test_a_duplicate_leaves_the_transaction_usable_for_the_next_receipt(db):
    ente = make_ente(db)
    first, second = (_option(make_position(db, ente)) for _ in range(2))
    payments.store_receipt(db, make_receipt(first, ente.fiscal_code, receipt_id="dup"))
    with pytest.raises(DuplicateReceipt):
        payments.store_receipt(db, make_receipt(second, ente.fiscal_code, receipt_id="dup"))
    payments.store_receipt(db, make_receipt(second, ente.fiscal_code, receipt_id="other"))
    assert (first.status, second.status) == ("paid", "paid")
    assert _count(db, Receipt) == 2


def test_illegal_transition_is_a_clear_error_and_writes_nothing(db):
    ente = make_ente(db)
    option = _option(make_position(db, ente))
    payments.store_receipt(db, make_receipt(option, ente.fiscal_code))
    before = _count(db, StateTransition)
    with pytest.raises(IllegalTransition, match="cancel"):
        payments.apply_event(db, option, "cancel", cause="test")
    assert option.status == "paid" and _count(db, StateTransition) == before


def test_lapsed_activations_go_back_to_payable(db):
    ente = make_ente(db)
    option = _option(make_position(db, ente))
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    payments.activate(
        db, ente, option.notice_number, requested_cents=3000, primitive="paGetPayment", now=past
    )
    assert payments.expire_lapsed_activations(db) == 1
    assert option.status == "payable"


def _concurrently(factory, ec, receipts):
    barrier = threading.Barrier(len(receipts))
    results: list[str] = []

    def handle(receipt):
        barrier.wait()
        try:
            with factory.begin() as session:
                payments.store_receipt(session, receipt)
            results.append("stored")
        except DuplicateReceipt:
            results.append("duplicate")

    threads = [threading.Thread(target=handle, args=(r,)) for r in receipts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_two_concurrent_handlers_of_one_receipt_make_exactly_one_transition(committed_factory):
    with committed_factory.begin() as session:
        ente = make_ente(session)
        option = _option(make_position(session, ente))
        ec, option_id = ente.fiscal_code, option.id
    results = _concurrently(
        committed_factory, ec, [make_receipt(option, ec), make_receipt(option, ec)]
    )
    assert sorted(results) == ["duplicate", "stored"]
    with committed_factory() as session:
        assert session.get(PaymentOption, option_id).status == "paid"
        assert (
            _count(
                session,
                StateTransition,
                StateTransition.option_id == option_id,
                StateTransition.to_state == "paid",
            )
            == 1
        )
        assert _count(session, Receipt) == 1


def test_two_concurrent_different_receipts_pay_once_and_flag_the_other(committed_factory):
    with committed_factory.begin() as session:
        ente = make_ente(session)
        option = _option(make_position(session, ente))
        ec, option_id = ente.fiscal_code, option.id
    results = _concurrently(
        committed_factory,
        ec,
        [make_receipt(option, ec, receipt_id="x"), make_receipt(option, ec, receipt_id="y")],
    )
    assert results == ["stored", "stored"]
    with committed_factory() as session:
        paid = session.scalars(
            sa.select(StateTransition)
            .where(
                StateTransition.option_id == option_id, StateTransition.event == "receive_receipt"
            )
            .order_by(StateTransition.id)
        ).all()
        assert [(t.from_state, t.to_state) for t in paid] == [("payable", "paid"), ("paid", "paid")]
        assert _count(session, Anomaly, Anomaly.kind == "double_payment") == 1


def test_notice_summary_reads_description_and_postal_flag_in_one_query(db):
    ente = make_ente(db)
    option = _option(make_position(db, ente))
    summary = payments.notice_summary(db, ente.id, option.notice_number)
    assert (summary.amount_cents, summary.status, summary.all_postal) == (3000, "payable", False)
    assert summary.description == "Test position"
    for transfer in option.transfers:
        transfer.postal_iban = "IT10N0760101600000000123456"
    db.flush()
    assert payments.notice_summary(db, ente.id, option.notice_number).all_postal is True
    assert payments.notice_summary(db, ente.id, "399999999999999903") is None


def test_receipt_naming_an_ente_the_station_does_not_serve_leaves_that_ente_alone(db):
    ours, theirs = make_ente(db), make_ente(db)
    option = _option(make_position(db, theirs))
    outcome = payments.store_receipt(
        db, make_receipt(option, theirs.fiscal_code), served_ente_ids={ours.id}
    )
    assert option.status == "payable" and outcome.receipt.option_id is None
    assert outcome.receipt.ente_id is None and outcome.anomalies == ["unserved_ec"]


def test_publish_is_recorded_but_writes_no_follow_up_message(db):
    """Nothing consumes a publish's follow-up (the writer sets the position's status itself),
    so the recorder writes its history row and no outbox message."""
    assert "publish" not in payments.FOLLOWED_UP_EVENTS
    assert {"activate", "receive_receipt", "cancel", "expire"} <= payments.FOLLOWED_UP_EVENTS
    option = _option(make_position(db, make_ente(db)))
    assert option.status == "payable"
    history = _count(db, StateTransition, StateTransition.option_id == option.id)
    assert history == 1
    assert _count(db, OutboxMessage, OutboxMessage.actor_name == payments.STATUS_CHANGED_ACTOR) == 0
    payments.apply_event(db, payments.lock_option_by_id(db, option.id), "cancel", cause="test")
    db.flush()
    assert _count(db, OutboxMessage, OutboxMessage.actor_name == payments.STATUS_CHANGED_ACTOR) == 1
