"""An ordinary receipt stored by one statement in autocommit (``receipt_sql.RECEIPT_AT_ONCE``,
where the session has such a connection: the station's fast path) leaves exactly what the
general path leaves; whatever is not ordinary is declined untouched and decided there.

Here the statement's "connection in autocommit" is the test's own connection, inside the
transaction rolled back after the test: the statement is the same (one atomic statement),
and nothing it writes outlives the test."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub import driver, outbox, payments
from hub.errors import DuplicateReceipt
from hub.models import Anomaly, OutboxMessage, PaymentOption, Receipt, StateTransition
from hub.payments import lifecycle, receipt_sql
from tests.factories import make_ente, make_position, make_receipt

pytestmark = pytest.mark.pg

NOW = dt.datetime(2026, 12, 7, 9, 30, tzinfo=dt.UTC)
LEASE = dt.timedelta(seconds=60)
STATES = ["draft", "payable", "in_progress", "paid", "cancelled", "expired"]


def _alone(db) -> None:
    """Give ``db`` a "connection in autocommit": its own (see the module's docstring)."""
    driver.use_driver(db, autocommit=db.connection)


def _general(db) -> None:
    db.info.pop(driver.KEY, None)
    db.info.pop(driver.AUTOCOMMIT_KEY, None)


def _option(db, ente, status: str) -> PaymentOption:
    option = make_position(db, ente).options[0]
    option.status = status  # the state a test needs (set, not moved: setup only)
    if status == "in_progress":
        option.activation_expires_at = NOW + dt.timedelta(minutes=10)
    db.flush()
    return option


def _receipt(option, fiscal_code: str, receipt_id: str, **changes) -> Receipt:
    receipt = make_receipt(option, fiscal_code, receipt_id=receipt_id)
    receipt.debtor = {"fullName": "Mario Rossi"}
    receipt.transfers = [{"idTransfer": "1", "transferAmount": "30.00"}]
    receipt.payment_date_time = NOW - dt.timedelta(minutes=5)
    for key, value in changes.items():
        setattr(receipt, key, value)
    return receipt


def _left(db, option: PaymentOption, receipt: Receipt, anomalies: list[str]) -> dict:
    """What a receipt left, without what differs by construction (ids, numbers)."""
    own = {"id", "receipt_id", "option_id", "notice_number", "creditor_reference_id"}
    stored = db.execute(sa.select(Receipt.__table__).where(Receipt.id == receipt.id)).one()
    row = db.execute(
        sa.select(
            PaymentOption.status,
            PaymentOption.paid_cents,
            PaymentOption.paid_at,
            PaymentOption.version,
            PaymentOption.activation_expires_at,
        ).where(PaymentOption.id == option.id)
    ).one()
    history = db.execute(
        sa.select(
            StateTransition.event,
            StateTransition.from_state,
            StateTransition.to_state,
            StateTransition.cause,
            StateTransition.created_at,
        )
        .where(StateTransition.option_id == option.id, StateTransition.event != "publish")
        .order_by(StateTransition.id)
    ).all()
    messages = db.execute(
        sa.select(
            OutboxMessage.actor_name,
            OutboxMessage.args,
            OutboxMessage.created_at,
            OutboxMessage.sent_at,
            OutboxMessage.attempts,
            OutboxMessage.lease_until,
        ).where(OutboxMessage.args["option_id"].as_integer() == option.id)
    ).all()
    flagged = db.scalars(
        sa.select(Anomaly.kind).where(Anomaly.receipt_pk == receipt.id).order_by(Anomaly.kind)
    ).all()
    return {
        "receipt": {k: v for k, v in stored._mapping.items() if k not in own}
        | {"option_id": stored.option_id == option.id},
        "option": tuple(row),
        "history": [(*h[:3], h.cause.replace(receipt.receipt_id, "<id>"), h[4]) for h in history],
        "messages": [
            (m.actor_name, {k: v for k, v in m.args.items() if k != "option_id"}, *m[2:])
            for m in messages
        ],
        "anomalies": (sorted(anomalies), flagged),
    }


def _store(db, option, ente, receipt, served: set[int]) -> dict:
    outcome = payments.store_receipt(db, receipt, now=NOW, served_ente_ids=served, broker_code=None)
    db.flush()
    assert outcome.receipt is receipt and receipt.id is not None
    return _left(db, option, receipt, outcome.anomalies)


def test_an_ordinary_receipt_alone_leaves_what_the_general_path_leaves(db, monkeypatch):
    ente = make_ente(db)
    alone, general = _option(db, ente, "payable"), _option(db, ente, "payable")
    db.info[outbox.LEASE_KEY] = lambda: LEASE  # as the relay's sessions carry it
    ran: list[str] = []
    real_run = driver.run_alone
    monkeypatch.setattr(driver, "run_alone", lambda *a: (ran.append("alone"), real_run(*a))[1])
    _alone(db)
    one = _store(db, alone, ente, _receipt(alone, ente.fiscal_code, "alone-1"), {ente.id})
    assert ran == ["alone"]
    _general(db)
    monkeypatch.setattr(lifecycle, "_ordinary", lambda *a: False)  # the general path
    other = _store(db, general, ente, _receipt(general, ente.fiscal_code, "alone-2"), {ente.id})
    assert one == other
    assert one["option"][0] == "paid" and one["history"][0][:3] == (
        "receive_receipt",
        "payable",
        "paid",
    )
    assert [m[0] for m in one["messages"]] == ["payment_status_changed"]
    assert len(outbox.take_pending(db)) == 2  # both messages handed to the relay


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    status=st.sampled_from(STATES),
    amount=st.sampled_from([0, 100, -100]),
    served=st.booleans(),
    ente_production=st.booleans(),
    outcome=st.sampled_from(["OK", "KO"]),
    standin=st.booleans(),
    test_station=st.booleans(),
)
def test_any_receipt_ends_as_on_the_general_path(
    db, status, amount, served, ente_production, outcome, standin, test_station
):
    """Ordinary or not, with the statement in autocommit offered or not: the same rows."""
    if not hasattr(db, "_alone_ente"):
        db._alone_ente = make_ente(db)
    ente = db._alone_ente
    ente.production = ente_production
    db.flush()
    left = []
    for way in (_alone, _general):
        way(db)
        option = _option(db, ente, status)
        receipt = _receipt(
            option,
            ente.fiscal_code,
            f"any-{option.id}",
            payment_amount_cents=option.amount_cents + amount,
            outcome=outcome,
            standin=standin,
            test=test_station,
        )
        served_ids = {ente.id} if served else {ente.id + 100_000}
        left.append(_store(db, option, ente, receipt, served_ids))
    _general(db)
    assert left[0] == left[1]


def test_a_receipt_for_an_option_of_a_service_in_test_is_declined_and_marked_test(db):
    from hub.models import DebtPosition, PaymentService, ServiceKind

    ente = make_ente(db)
    service = PaymentService(
        ente_id=ente.id,
        code="TST",
        label="In test",
        taxonomy="9/0101108TS/",
        kind=ServiceKind.SPONTANEOUS,
        production=False,
    )
    db.add(service)
    db.flush()
    option = _option(db, ente, "payable")
    db.get(DebtPosition, option.position_id).service_id = service.id
    db.flush()
    _alone(db)
    receipt = _receipt(option, ente.fiscal_code, "service-test")
    payments.store_receipt(db, receipt, now=NOW, served_ente_ids={ente.id}, broker_code=None)
    assert receipt.test is True  # the general path's judgement, not the statement's
    assert option.status == "paid"


def test_a_duplicate_is_refused_and_writes_nothing(db):
    ente = make_ente(db)
    first, second = _option(db, ente, "payable"), _option(db, ente, "payable")
    _alone(db)
    payments.store_receipt(
        db, _receipt(first, ente.fiscal_code, "twice"), now=NOW, served_ente_ids={ente.id}
    )
    counts = [
        db.scalar(sa.select(sa.func.count()).select_from(m))
        for m in (Receipt, StateTransition, OutboxMessage)
    ]
    with pytest.raises(DuplicateReceipt):
        payments.store_receipt(
            db, _receipt(second, ente.fiscal_code, "twice"), now=NOW, served_ente_ids={ente.id}
        )
    assert counts == [
        db.scalar(sa.select(sa.func.count()).select_from(m))
        for m in (Receipt, StateTransition, OutboxMessage)
    ]
    db.expire_all()
    assert db.get(PaymentOption, second.id).status == "payable"


def test_the_statement_is_sent_with_psycopgs_own_placeholders():
    """Compiled once into $1, $2, ...: psycopg has nothing to convert per receipt, whatever
    the statement's length (it caches its conversion only below 4,096 characters)."""
    from sqlalchemy.dialects import postgresql

    prepared = driver.compiled(receipt_sql.RECEIPT_AT_ONCE, postgresql.psycopg.dialect())
    assert prepared is not None
    assert b"%(" not in prepared.sql and b"$1" in prepared.sql
    assert len(prepared.sql) > 4096  # the reason: a conversion psycopg would not cache
    numbers = {int(n) for n in re.findall(rb"\$(\d+)", prepared.sql)}
    assert numbers == set(range(1, len(prepared.binds) + 1))
