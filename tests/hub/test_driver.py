"""Prebuilt statements run straight on psycopg (hub.driver): the same SQL, values and rows as
SQLAlchemy's execution, SQLAlchemy's errors, and SQLAlchemy itself where it must finish a
statement or the session did not ask."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub import driver, outbox, payments
from hub.models import Ente, PaymentOption, Receipt
from hub.payments import receipt_sql
from tests.factories import make_ente, make_position
from tests.hub.payments.test_receipt_at_once import LEASE, NOW, _receipt, _rows

pytestmark = pytest.mark.pg


def _lock_values(ente, option) -> dict[str, object]:
    return {
        "fiscal_code": ente.fiscal_code,
        "notice_number": option.notice_number,
        "now": NOW.replace(tzinfo=None),
    }


@pytest.fixture
def on_driver(monkeypatch):
    """Every statement ``driver.rows`` ran on psycopg itself (not through SQLAlchemy)."""
    ran: list[object] = []
    real = driver.Compiled.parameters

    def spy(self, values):
        ran.append(self)
        return real(self, values)

    monkeypatch.setattr(driver.Compiled, "parameters", spy)
    return ran


def test_an_ordinary_receipt_on_the_driver_writes_what_sqlalchemy_writes(db, on_driver):
    ente = make_ente(db)
    by_driver, by_sqlalchemy = (make_position(db, ente).options[0] for _ in range(2))
    db.flush()
    db.info[outbox.LEASE_KEY] = lambda: LEASE
    first = _receipt(by_driver, ente.fiscal_code, "driver-1")
    payments.store_receipt(driver.use_driver(db), first, now=NOW)
    assert len(on_driver) == 2  # the lock and the write
    db.info.pop(driver.KEY)
    second = _receipt(by_sqlalchemy, ente.fiscal_code, "driver-2")
    payments.store_receipt(db, second, now=NOW)
    assert len(on_driver) == 2
    db.flush()
    assert not db.dirty
    one, other = _rows(db, by_driver, first), _rows(db, by_sqlalchemy, second)
    assert one == other
    assert one["option"][0] == "paid"
    assert first.id is not None and first in db  # persistent, as SQLAlchemy's path leaves it
    assert len(outbox.take_pending(db)) == 2  # both messages handed to the relay


def test_the_lock_row_on_the_driver_is_sqlalchemys_row(db, on_driver):
    ente = make_ente(db)
    option = make_position(db, ente).options[0]
    option.paid_at = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)  # a time read back
    db.flush()
    values = _lock_values(ente, option)
    expected = db.connection().execute(receipt_sql.LOCK_WITH_ENTE, values).one()
    (got,) = driver.rows(driver.use_driver(db), receipt_sql.LOCK_WITH_ENTE, values)
    assert on_driver, "the lock ran on the driver"
    assert got._fields == tuple(expected._fields)
    assert tuple(got) == tuple(expected)
    assert got.paid_at == option.paid_at and got.paid_at.tzinfo is not None  # UTCDateTime
    assert got.id == option.id and got.ente_production is ente.production


def test_a_lock_of_an_unknown_notice_finds_nothing_on_the_driver(db):
    ente = make_ente(db)
    option = make_position(db, ente).options[0]
    db.flush()
    values = _lock_values(ente, option) | {"notice_number": "399999999999999999"}
    assert driver.rows(driver.use_driver(db), receipt_sql.LOCK_WITH_ENTE, values) == []


def test_a_statement_sqlalchemy_must_expand_runs_through_it(db, on_driver):
    ente = make_ente(db)
    db.flush()
    expanding = sa.select(Ente.id).where(Ente.id.in_(sa.bindparam("ids", expanding=True)))
    assert driver.compiled(expanding, db.get_bind().dialect) is None
    found = driver.rows(driver.use_driver(db), expanding, {"ids": [ente.id, -1]})
    assert [r.id for r in found] == [ente.id]
    assert on_driver == []


def test_a_session_that_did_not_ask_runs_through_sqlalchemy(db, on_driver):
    ente = make_ente(db)
    option = make_position(db, ente).options[0]
    db.flush()
    (row,) = driver.rows(db, receipt_sql.LOCK_WITH_ENTE, _lock_values(ente, option))
    assert row.id == option.id
    assert on_driver == []


def test_a_missing_value_is_refused_before_anything_is_sent(db):
    ente = make_ente(db)
    db.flush()
    values = {"fiscal_code": ente.fiscal_code, "now": NOW.replace(tzinfo=None)}
    with pytest.raises(sa.exc.InvalidRequestError, match="notice_number"):
        driver.rows(driver.use_driver(db), receipt_sql.LOCK_WITH_ENTE, values)


def test_a_driver_error_is_sqlalchemys_with_its_parameters_hidden(pg_engine):
    n, d = (sa.bindparam(name, type_=sa.Integer) for name in "nd")
    ratio = sa.select(n.op("/")(d).label("q"))  # integer division in PostgreSQL
    with Session(pg_engine) as session:
        driver.use_driver(session)
        assert driver.compiled(ratio, pg_engine.dialect) is not None
        assert driver.rows(session, ratio, {"n": 918273, "d": 3})[0].q == 306091
        with pytest.raises(sa.exc.DataError) as raised:  # division by zero
            driver.rows(session, ratio, {"n": 918273, "d": 0})
        assert not raised.value.connection_invalidated
        assert "918273" not in str(raised.value)  # parameters never shown


def test_an_insert_with_defaults_made_in_python_runs_through_sqlalchemy(db, on_driver):
    insert = sa.insert(Ente.__table__).values(
        fiscal_code=sa.bindparam("fc"), name="Comune", production=False, segregation_code="01"
    )
    assert driver.compiled(insert, db.get_bind().dialect) is None
    driver.rows(driver.use_driver(db), insert, {"fc": "80000000001"})
    assert db.scalar(sa.select(Ente.name).where(Ente.fiscal_code == "80000000001")) == "Comune"
    assert on_driver == []


def test_a_connection_the_database_dropped_is_invalidated(pg_engine):
    with Session(pg_engine) as session:
        driver.use_driver(session)
        pid = session.scalar(sa.text("SELECT pg_backend_pid()"))
        with pg_engine.connect() as other:
            other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        count = sa.select(sa.func.count(Receipt.id)).where(Receipt.id > sa.bindparam("after"))
        with pytest.raises(sa.exc.DBAPIError) as raised:
            driver.rows(session, count, {"after": 0})
        assert raised.value.connection_invalidated
        assert session.connection().invalidated
        session.rollback()
    with Session(pg_engine) as session:  # the pool hands out a working connection
        (row,) = driver.rows(driver.use_driver(session), count, {"after": 0})
        assert row[0] == 0


def test_a_receipt_for_an_unusual_option_on_the_driver_takes_the_general_path(db, on_driver):
    ente = make_ente(db)
    option = make_position(db, ente).options[0]
    db.flush()
    receipt = _receipt(option, ente.fiscal_code, "driver-unusual")
    receipt.payment_amount_cents = option.amount_cents + 100  # more than expected: flagged
    outcome = payments.store_receipt(driver.use_driver(db), receipt, now=NOW)
    assert outcome.anomalies == ["amount_mismatch"]
    assert len(on_driver) == 1  # the lock only: the general path writes through the session
    assert db.get(PaymentOption, option.id).status == "paid"


def test_statements_built_as_a_caller_goes_do_not_fill_the_memory(pg_engine, monkeypatch):
    monkeypatch.setattr(driver, "MAX_STATEMENTS", 10)
    dialect = pg_engine.dialect
    for n in range(25):  # a new statement object each time
        assert driver.compiled(sa.select(Ente.id).where(Ente.id == n), dialect) is not None
    assert len(driver._cache[dialect]) <= 10
    prebuilt = receipt_sql.LOCK_WITH_ENTE
    assert driver.compiled(prebuilt, dialect) is driver.compiled(prebuilt, dialect)  # kept


def test_a_statement_that_cannot_be_a_key_runs_through_sqlalchemy(db, on_driver):
    class Unhashable(sa.sql.Select):
        inherit_cache = True
        __hash__ = None  # type: ignore[assignment]

    ente = make_ente(db)
    db.flush()
    statement = Unhashable(Ente.id).where(Ente.id == sa.bindparam("id"))
    assert driver.compiled(statement, db.get_bind().dialect) is None
    assert [r.id for r in driver.rows(driver.use_driver(db), statement, {"id": ente.id})] == [
        ente.id
    ]
    assert on_driver == []


def test_a_parameter_with_a_value_of_its_own_is_not_required(db, on_driver):
    given = sa.select(
        sa.bindparam("none", None, type_=sa.Integer, required=False).label("none"),
        sa.bindparam("seven", 7, type_=sa.Integer).label("seven"),
    )
    (row,) = driver.rows(driver.use_driver(db), given, {})
    assert on_driver and (row.none, row.seven) == (None, 7)
    (row,) = driver.rows(driver.use_driver(db), given, {"seven": 8})
    assert row.seven == 8


def test_psycopgs_placeholders_keep_a_literal_percent_and_a_name_given_twice(db):
    """Compiled into $1, $2, ...: a parameter used twice is one value, and a percent sign of
    the SQL itself (doubled in SQLAlchemy's named style) reaches the database as one."""
    amount = sa.bindparam("amount", type_=sa.Integer())
    statement = sa.select(
        sa.literal_column("'50%'").label("literal"),
        (amount + amount).label("twice"),
        sa.bindparam("word", type_=sa.String()).label("word"),
    )
    prepared = driver.compiled(statement, db.get_bind().dialect)
    assert prepared is not None and prepared.sql.count(b"$1") == 2 and b"$2" in prepared.sql
    (row,) = driver.rows(driver.use_driver(db), statement, {"amount": 21, "word": "ok"})
    assert (row.literal, row.twice, row.word) == ("50%", 42, "ok")
    expected = db.connection().execute(statement, {"amount": 21, "word": "ok"}).one()
    assert tuple(row) == tuple(expected)


def test_a_statement_alone_is_sent_again_once_on_a_new_connection(db, pg_engine):
    """``run_alone``: a connection the database dropped is replaced and the statement sent
    once more; a second drop is raised."""
    statement = sa.select(sa.bindparam("n", type_=sa.Integer()).label("n"))
    given: list[sa.Connection] = []
    drops = [1]  # which connections (by number) are dropped before the statement

    def connect() -> sa.Connection:
        connection = pg_engine.connect()
        given.append(connection)
        if len(given) in drops:
            pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            connection.rollback()
            with pg_engine.connect() as other:
                other.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        return connection

    driver.use_driver(db, autocommit=connect)
    try:
        (row,) = driver.run_alone(db, statement, {"n": 7})
        assert row.n == 7 and len(given) == 2 and given[0].invalidated
        drops[:] = [3, 4]  # both the connection and its replacement
        with pytest.raises(sa.exc.DBAPIError) as raised:
            driver.run_alone(db, statement, {"n": 8})
        assert raised.value.connection_invalidated and len(given) == 4
    finally:
        for connection in given:
            connection.close()
    assert driver.run_alone(driver.use_driver(Session()), statement, {"n": 1}) is None
