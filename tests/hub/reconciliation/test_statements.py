"""Bank reconciliation: the simulator's statements (CSV and camt.053) matched to stored flows,
reported options reconciled with history; every mismatch flagged; statements loaded once."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.models import Anomaly, BankCredit, StateTransition
from hub.notify import webhooks
from hub.reconciliation import flows, statements
from hub.xmlsafe import UnsafeXml
from nodesim.bank import statement_camt053, statement_csv
from nodesim.reporting import Credit
from tests.factories import FLOW_DAY as DAY
from tests.factories import entry, flow_bytes, make_ente, paid_option

pytestmark = pytest.mark.pg
NOW = dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.UTC)


def credit(
    ente,
    cents: int,
    flow_id: str | None = "2026-11-27BCITITMM-0001",
    *,
    reference: str = "RIV20261127BCITITMM0001",
) -> Credit:
    return Credit(
        booking_date=DAY + dt.timedelta(days=1),
        amount=Decimal(cents) / 100,
        iban="IT60X0542811101000000123456",
        ec=ente.fiscal_code,
        flow_id=flow_id or "",
        debtor_name="Banca di prova",
        debtor_bic="BCITITMM",
        reference=reference,
    )


def reported_flow(db, ente, n: int = 2, flow_id: str = "2026-11-27BCITITMM-0001"):
    pairs = [paid_option(db, ente) for _ in range(n)]
    outcome = flows.store_flow(
        db, flow_bytes(ente, [entry(o, r) for o, r in pairs], flow_id=flow_id)
    )
    assert outcome.created
    return outcome.flow, [o for o, _ in pairs]


@pytest.mark.parametrize("fmt", ["csv", "camt053"])
def test_a_credit_for_the_flow_total_reconciles_every_option_of_the_flow(db, fmt):
    ente = make_ente(db)
    webhooks.register_endpoint(db, ente, "https://ente.example/hook")
    flow, options = reported_flow(db, ente)
    credits = [credit(ente, flow.computed_total_cents)]
    data = (
        statement_csv(credits).encode()
        if fmt == "csv"
        else statement_camt053(credits, "IT60X0542811101000000123456", NOW)
    )

    outcome = statements.load_statement(db, ente, data, source_file=f"stmt.{fmt}", now=NOW)

    assert outcome.reconciled == 2 and outcome.anomalies == [] and len(outcome.added) == 1
    bank_credit = db.get(BankCredit, outcome.added[0])
    assert (bank_credit.status, bank_credit.flow_pk, bank_credit.flow_id) == (
        "matched",
        flow.id,
        flow.flow_id,
    )
    assert bank_credit.value_date == DAY + dt.timedelta(days=1)
    assert flow.status == "reconciled" and flow.reconciled_at == NOW
    assert {o.status for o in options} == {"reconciled"}
    causes = db.scalars(
        sa.select(StateTransition.cause).where(
            StateTransition.event == "reconcile", StateTransition.to_state == "reconciled"
        )
    ).all()
    assert causes == [f"credit:{bank_credit.id}"] * 2
    assert webhooks.notify_transition(db, options[0].id, "reconcile", "reported", "reconciled") == 1


def test_the_same_statement_twice_adds_nothing(db):
    ente = make_ente(db)
    flow, _ = reported_flow(db, ente)
    data = statement_csv(
        [credit(ente, flow.computed_total_cents), credit(ente, 500, None, reference="")]
    ).encode()
    first = statements.load_statement(db, ente, data, source_file="a.csv", now=NOW)
    transitions = db.scalar(sa.select(sa.func.count()).select_from(StateTransition))
    anomalies = db.scalar(sa.select(sa.func.count()).select_from(Anomaly))

    again = statements.load_statement(db, ente, data, source_file="renamed.csv", now=NOW)

    assert len(first.added) == 2 and again.added == [] and again.duplicates == 2
    assert db.scalar(sa.select(sa.func.count()).select_from(BankCredit)) == 2
    assert db.scalar(sa.select(sa.func.count()).select_from(StateTransition)) == transitions
    assert db.scalar(sa.select(sa.func.count()).select_from(Anomaly)) == anomalies


def test_identical_lines_without_a_reference_are_distinct_credits(db):
    ente = make_ente(db)
    line = credit(ente, 500, None, reference="")
    outcome = statements.load_statement(
        db, ente, statement_csv([line, line]).encode(), source_file="s.csv", now=NOW
    )
    assert len(outcome.added) == 2


def test_a_credit_for_another_amount_is_flagged_and_reconciles_nothing(db):
    ente = make_ente(db)
    flow, options = reported_flow(db, ente)
    outcome = statements.load_statement(
        db,
        ente,
        statement_csv([credit(ente, flow.computed_total_cents - 1)]).encode(),
        source_file="s.csv",
        now=NOW,
    )

    assert outcome.anomalies == ["credit_amount_mismatch"]
    added = db.get(BankCredit, outcome.added[0])
    assert added.status == "amount_mismatch" and added.flow_pk == flow.id
    assert {o.status for o in options} == {"reported"} and flow.status == "received"


def test_a_credit_without_a_flow_id_is_kept_unmatched_and_flagged(db):
    ente = make_ente(db)
    data = (
        statement_csv([credit(ente, 1234, None)])
        .encode()
        .replace(b"/PUR/LGPE-RIVERSAMENTO/URI/", b"Rimborso spese")
    )
    outcome = statements.load_statement(db, ente, data, source_file="s.csv", now=NOW)

    assert outcome.anomalies == ["credit_without_flow_id"]
    added = db.get(BankCredit, outcome.added[0])
    assert (added.status, added.flow_id) == ("no_flow_id", None)


def test_a_credit_naming_an_unknown_flow_is_flagged_then_matched_when_the_flow_arrives(db):
    ente = make_ente(db)
    option, rid = paid_option(db, ente)
    outcome = statements.load_statement(
        db,
        ente,
        statement_csv([credit(ente, option.amount_cents)]).encode(),
        source_file="s.csv",
        now=NOW,
    )
    assert outcome.anomalies == ["credit_unknown_flow"]
    bank_credit = db.get(BankCredit, outcome.added[0])
    assert bank_credit.status == "unknown_flow"

    flow = flows.store_flow(db, flow_bytes(ente, [entry(option, rid)])).flow

    assert (bank_credit.status, bank_credit.flow_pk) == ("matched", flow.id)
    assert option.status == "reconciled" and flow.status == "reconciled"
    anomaly = db.scalars(sa.select(Anomaly).where(Anomaly.credit_pk == bank_credit.id)).one()
    assert anomaly.resolved_at is not None


def test_a_second_credit_for_a_credited_flow_is_flagged(db):
    ente = make_ente(db)
    flow, _ = reported_flow(db, ente, 1)
    total = flow.computed_total_cents
    data = statement_csv([credit(ente, total), credit(ente, total, reference="OTHER")]).encode()
    outcome = statements.load_statement(db, ente, data, source_file="s.csv", now=NOW)
    assert outcome.anomalies == ["credit_duplicate"]


def test_flows_without_credit_after_n_days_are_flagged_once(db):
    ente = make_ente(db)
    flow, _ = reported_flow(db, ente, 1)
    credited, _ = reported_flow(db, ente, 1, "2026-11-27BCITITMM-0002")
    statements.load_statement(
        db,
        ente,
        statement_csv([credit(ente, credited.computed_total_cents, credited.flow_id)]).encode(),
        source_file="s.csv",
        now=NOW,
    )
    received = flow.received_at

    assert statements.flows_without_credit(db, days=3, now=received + dt.timedelta(days=2)) == 0
    later = received + dt.timedelta(days=3, minutes=1)
    assert statements.flows_without_credit(db, days=3, now=later) == 1
    assert statements.flows_without_credit(db, days=3, now=later) == 0
    flagged = db.scalars(
        sa.select(Anomaly.flow_pk).where(Anomaly.kind == "flow_without_credit")
    ).all()
    assert flagged == [flow.id]


def test_a_camt053_with_a_doctype_is_refused(db):
    ente = make_ente(db)
    data = (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">&x;</Document>'
    )
    with pytest.raises(UnsafeXml):
        statements.load_statement(db, ente, data, source_file="evil.xml", now=NOW)
    assert db.scalar(sa.select(sa.func.count()).select_from(BankCredit)) == 0


def test_a_csv_without_the_expected_columns_is_refused(db):
    ente = make_ente(db)
    with pytest.raises(statements.InvalidStatement, match="column"):
        statements.load_statement(
            db, ente, b"date,amount\n2026-11-28,1.00\n", source_file="s.csv", now=NOW
        )


def test_debits_are_not_credits():
    data = statement_csv([]).encode() + b"2026-11-28,2026-11-28,5.00,EUR,D,IT60X,x,y,z,fee\n"
    assert statements.read_statement(data) == []


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cents=st.lists(st.integers(min_value=1, max_value=99_999_999_999), min_size=1, max_size=5))
def test_csv_and_camt053_read_the_same_cents(cents):
    ente = type("E", (), {"fiscal_code": "77777777777"})
    credits = [credit(ente, c, f"F{n}", reference=f"R{n}") for n, c in enumerate(cents)]
    from_csv = statements.read_statement(statement_csv(credits).encode())
    from_camt = statements.read_statement(
        statement_camt053(credits, "IT60X0542811101000000123456", NOW)
    )
    assert [s.amount_cents for s in from_csv] == [s.amount_cents for s in from_camt] == cents
    assert (
        [s.flow_id for s in from_csv]
        == [s.flow_id for s in from_camt]
        == [f"F{n}" for n in range(len(cents))]
    )
    assert [s.reference for s in from_camt] == [f"R{n}" for n in range(len(cents))]


def test_a_newer_version_of_a_credited_flow_takes_over_its_credit(db):
    ente = make_ente(db)
    v1, options = reported_flow(db, ente)
    statements.load_statement(
        db,
        ente,
        statement_csv([credit(ente, v1.computed_total_cents)]).encode(),
        source_file="s.csv",
        now=NOW,
    )
    transitions = db.scalar(sa.select(sa.func.count()).select_from(StateTransition))
    entries = [entry(o, r) for o, r in zip(options, _receipt_ids(db, options), strict=True)]

    v2 = flows.store_flow(
        db,
        flow_bytes(
            ente,
            entries,
            created_at=v1.flow_datetime.replace(tzinfo=dt.UTC) + dt.timedelta(hours=1),
        ),
    ).flow

    bank_credit = db.scalars(sa.select(BankCredit)).one()
    assert (bank_credit.flow_pk, bank_credit.status) == (v2.id, "matched")
    assert (v2.status, v1.status) == ("reconciled", "superseded")
    assert {o.status for o in options} == {"reconciled"}
    assert db.scalar(sa.select(sa.func.count()).select_from(StateTransition)) == transitions


def _receipt_ids(db, options) -> list[str]:
    from hub.models import Receipt

    return [
        db.scalar(sa.select(Receipt.receipt_id).where(Receipt.option_id == o.id)) for o in options
    ]


@pytest.mark.parametrize("amount", ["NaN", "1.234", "-3.00", "0.00", "dieci"])
def test_a_credit_that_is_not_a_positive_euro_amount_refuses_the_statement(amount):
    line = (
        f"2026-11-28,2026-11-28,{amount},EUR,C,IT60X,Banca,BIC,REF,/PUR/LGPE-RIVERSAMENTO/URI/F1\n"
    )
    with pytest.raises(statements.InvalidStatement, match="line 2"):
        statements.read_statement(statement_csv([]).encode() + line.encode())
