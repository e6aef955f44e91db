"""An ordinary receipt is stored and settled by one statement (hub.payments.receipt_sql),
writing exactly the rows the general path writes; anything unusual takes the general path."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from hub import outbox, payments
from hub.errors import DuplicateReceipt
from hub.models import Anomaly, OutboxMessage, PaymentOption, Receipt, StateTransition
from hub.payments import lifecycle
from tests.factories import make_ente, make_position, make_receipt

pytestmark = pytest.mark.pg

NOW = dt.datetime(2026, 12, 7, 9, 30, tzinfo=dt.UTC)
LEASE = dt.timedelta(seconds=60)


def _receipt(option, fiscal_code: str, receipt_id: str) -> Receipt:
    receipt = make_receipt(option, fiscal_code, receipt_id=receipt_id)
    receipt.debtor = {"fullName": "Mario Rossi"}
    receipt.transfers = [{"idTransfer": "1", "transferAmount": "30.00"}]
    receipt.metadata_entries = None  # JSON null, as the ORM writes it
    receipt.payment_date_time = NOW - dt.timedelta(minutes=5)
    return receipt


def _rows(db, option: PaymentOption, receipt: Receipt) -> dict[str, object]:
    """What a receipt wrote, without what differs by construction (ids, the receipt's and the
    notice's own numbers, the message's id)."""
    own = {"id", "receipt_id", "option_id", "notice_number", "creditor_reference_id"}
    stored = db.execute(sa.select(Receipt.__table__).where(Receipt.id == receipt.id)).one()
    option_row = db.execute(
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
            StateTransition.created_at,
        )
        .where(StateTransition.option_id == option.id, StateTransition.event != "publish")
        .order_by(StateTransition.id)
    ).all()
    causes = db.scalars(
        sa.select(StateTransition.cause)
        .where(StateTransition.option_id == option.id)
        .order_by(StateTransition.id)
    ).all()
    message = db.execute(
        sa.select(
            OutboxMessage.queue_name,
            OutboxMessage.actor_name,
            OutboxMessage.args,
            OutboxMessage.created_at,
            OutboxMessage.sent_at,
            OutboxMessage.attempts,
            OutboxMessage.lease_until,
            OutboxMessage.last_error,
            OutboxMessage.processed_at,
            OutboxMessage.dead_at,
        ).where(OutboxMessage.args["option_id"].as_integer() == option.id)
    ).one()
    args = dict(message.args)
    assert args.pop("option_id") == option.id
    return {
        "receipt": {k: v for k, v in stored._mapping.items() if k not in own},
        "receipt_json_null": db.scalar(
            sa.select(sa.cast(Receipt.metadata_entries, sa.Text)).where(Receipt.id == receipt.id)
        ),
        "option": tuple(option_row),
        "history": [tuple(h) for h in history],
        "causes": [c.replace(receipt.receipt_id, "<id>") for c in causes],
        "message": (*message[:2], args, *message[3:]),
        "in_memory": (option.status, option.version, receipt in db, receipt not in db.new),
    }


@contextlib.contextmanager
def _statements(db) -> Iterator[list[str]]:
    """The first word of each statement run inside the block."""
    seen: list[str] = []
    bind = db.get_bind()

    def count(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append(statement.split()[0])

    event.listen(bind, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(bind, "before_cursor_execute", count)


def test_an_ordinary_receipt_writes_what_the_general_path_writes(db, monkeypatch):
    ente = make_ente(db)
    at_once, general = (make_position(db, ente).options[0] for _ in range(2))
    db.flush()
    db.info[outbox.LEASE_KEY] = lambda: LEASE  # as the relay's sessions carry it
    first = _receipt(at_once, ente.fiscal_code, "ordinary-1")
    payments.store_receipt(db, first, now=NOW)
    monkeypatch.setattr(lifecycle, "_ordinary", lambda *a: False)  # the general path
    second = _receipt(general, ente.fiscal_code, "ordinary-2")
    payments.store_receipt(db, second, now=NOW)
    db.flush()
    assert not db.dirty
    one, other = _rows(db, at_once, first), _rows(db, general, second)
    assert one == other
    assert one["option"][0] == "paid" and [h[:3] for h in one["history"]] == [
        ("receive_receipt", "payable", "paid")
    ]
    assert one["receipt_json_null"] == "null"
    # both messages handed to the relay, in order
    assert len(outbox.take_pending(db)) == 2


def test_an_ordinary_receipt_takes_two_statements(db):
    ente = make_ente(db)
    option = make_position(db, ente).options[0]
    db.flush()
    with _statements(db) as seen:
        payments.store_receipt(db, _receipt(option, ente.fiscal_code, "two-1"), now=NOW)
    assert seen == ["SELECT", "WITH"]  # the lock with its Ente, then the whole write
    assert option.status == "paid"


def test_a_duplicate_ordinary_receipt_writes_nothing_and_the_transaction_goes_on(db):
    ente = make_ente(db)
    first, second = (make_position(db, ente).options[0] for _ in range(2))
    payments.store_receipt(db, _receipt(first, ente.fiscal_code, "twice"), now=NOW)
    before = {
        m.__name__: db.scalar(sa.select(sa.func.count()).select_from(m))
        for m in (Receipt, StateTransition, OutboxMessage)
    }
    with pytest.raises(DuplicateReceipt):
        payments.store_receipt(db, _receipt(second, ente.fiscal_code, "twice"), now=NOW)
    after = {
        m.__name__: db.scalar(sa.select(sa.func.count()).select_from(m))
        for m in (Receipt, StateTransition, OutboxMessage)
    }
    assert after == before
    assert db.scalar(sa.select(PaymentOption.status).where(PaymentOption.id == second.id)) == (
        "payable"
    )
    payments.store_receipt(db, _receipt(second, ente.fiscal_code, "twice-other"), now=NOW)
    assert second.status == "paid"


@pytest.mark.parametrize(
    "unusual",
    ["amount", "standin", "ko", "already_paid"],
)
def test_an_unusual_receipt_takes_the_general_path_and_is_flagged(db, unusual):
    ente = make_ente(db)
    option = make_position(db, ente).options[0]
    if unusual == "already_paid":
        payments.store_receipt(db, _receipt(option, ente.fiscal_code, "before"), now=NOW)
    receipt = _receipt(option, ente.fiscal_code, "unusual")
    if unusual == "amount":
        receipt.payment_amount_cents = option.amount_cents + 100
    elif unusual == "standin":
        receipt.standin = True
    elif unusual == "ko":
        receipt.outcome = "KO"
    db.flush()
    with _statements(db) as seen:
        outcome = payments.store_receipt(db, receipt, now=NOW)
    assert "WITH" not in seen  # not the one-statement write
    assert outcome.anomalies  # each of these is flagged for support
    assert db.scalar(
        sa.select(sa.func.count()).select_from(Anomaly).where(Anomaly.receipt_pk == receipt.id)
    ) == len(outcome.anomalies)


def test_the_one_statement_stays_within_what_psycopg_prepares_and_caches():
    """psycopg converts and prepares a query once only up to 50 parameters (and 4096
    characters): beyond that every receipt would be parsed and planned again."""
    from psycopg import _queries
    from sqlalchemy.dialects import postgresql

    from hub.payments import receipt_sql

    compiled = receipt_sql.PAID_AT_ONCE.compile(dialect=postgresql.psycopg.dialect())
    assert len(compiled.params) <= _queries.MAX_CACHED_STATEMENT_PARAMS
    assert len(str(compiled)) <= _queries.MAX_CACHED_STATEMENT_LENGTH


def test_the_sessions_own_copy_of_the_option_is_written_first_and_read_again_after(db):
    """The lock reads the option as columns: a change the session holds is flushed before it,
    and the session's object shows the receipt's move afterwards."""
    ente = make_ente(db)
    option = make_position(db, ente).options[0]
    db.flush()
    option.description = "changed before the receipt"  # pending, not flushed
    outcome = payments.store_receipt(db, _receipt(option, ente.fiscal_code, "held-1"), now=NOW)
    assert outcome.option is option
    assert (option.status, option.paid_cents) == ("paid", option.amount_cents)
    stored = db.execute(
        sa.select(PaymentOption.description, PaymentOption.status, PaymentOption.version).where(
            PaymentOption.id == option.id
        )
    ).one()
    assert stored == ("changed before the receipt", "paid", option.version)


def test_an_ordinary_receipts_outcome_loads_its_option_only_when_asked(db):
    ente = make_ente(db)
    option = make_position(db, ente).options[0]
    db.flush()
    option_id, notice = option.id, option.notice_number
    receipt = _receipt(option, ente.fiscal_code, "lazy-1")
    db.expunge_all()  # as a request's session: the option is not held
    with _statements(db) as seen:
        outcome = payments.store_receipt(db, receipt, now=NOW)
        assert seen == ["SELECT", "WITH"]
        loaded = outcome.option
    assert seen[2:] == ["SELECT"]  # read on demand
    assert loaded is not None
    assert (loaded.id, loaded.notice_number, loaded.status) == (option_id, notice, "paid")
