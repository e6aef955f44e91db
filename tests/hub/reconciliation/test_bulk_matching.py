"""A flow's entries matched in bulk (``flows._match_batch``) give exactly what matching them one
at a time (``flows._match``) gives: the same entry rows, anomalies, states, history, follow-up
messages and recovery requests, on random flows, on PostgreSQL and on SQLite."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from hub import payments
from hub.models import (
    Anomaly,
    OutboxMessage,
    PaymentOption,
    ReceiptRecovery,
    ReportingEntry,
    ReportingFlow,
    StateTransition,
)
from hub.reconciliation import flows
from nodesim.reporting import Entry
from tests.factories import FLOW_DAY, flow_bytes, make_ente, make_position, paid_option

# (what the entry names, outcome code, amount right?, transfer index)
KINDS = ("paid", "paid_again", "payable", "no_receipt", "orphan_receipt")
entry_specs = st.lists(
    st.tuples(
        st.sampled_from(KINDS),
        st.sampled_from(["0", "0", "3", "4", "8", "9"]),
        st.booleans(),
        st.sampled_from([1, 1, 2]),
    ),
    min_size=1,
    max_size=12,
)


def _one_at_a_time(
    session: Session,
    ente: Any,
    flow: ReportingFlow,
    batch: Sequence[flows.ParsedEntry],
    outcome: flows.FlowOutcome,
    now: Any,
    *,
    relay: bool,
) -> bool:
    for e in batch:
        flows._match(session, ente, flow, e, outcome, now)
    return True  # the entries left without a receipt: the caller reads them back


def _build(session: Session, specs: list[tuple[str, str, bool, int]]) -> bytes:
    ente = make_ente(session)
    paid = [paid_option(session, ente) for _ in range(3)]
    payable = make_position(session, ente).options[0]
    entries = []
    for n, (kind, code, right, index) in enumerate(specs):
        if kind in ("paid", "paid_again"):
            option, rid = paid[0 if kind == "paid_again" else n % 3]
        elif kind == "payable":
            option, rid = payable, "never-paid"
        elif kind == "orphan_receipt":
            option, rid = paid[n % 3][0], "someone-else"
        else:
            option, rid = make_position(session, ente).options[0], f"none-{n}"
        cents = option.amount_cents if right else option.amount_cents + 100
        entries.append(Entry(option.iuv, rid, index, Decimal(cents) / 100, code, FLOW_DAY))
    return flow_bytes(ente, entries)


def _snapshot(session: Session, flow_pk: int) -> dict[str, Any]:
    session.flush()
    entries = session.execute(
        sa.select(
            ReportingEntry.iuv,
            ReportingEntry.iur,
            ReportingEntry.transfer_index,
            ReportingEntry.amount_cents,
            ReportingEntry.match,
            ReportingEntry.receipt_pk,
            ReportingEntry.option_id,
        )
        .where(ReportingEntry.flow_pk == flow_pk)
        .order_by(ReportingEntry.id)
    ).all()
    anomalies = session.execute(
        sa.select(Anomaly.kind, Anomaly.option_id, Anomaly.receipt_pk, Anomaly.detail)
        .where(Anomaly.flow_pk == flow_pk)
        .order_by(Anomaly.id)
    ).all()
    options = session.execute(
        sa.select(PaymentOption.id, PaymentOption.status, PaymentOption.version).order_by(
            PaymentOption.id
        )
    ).all()
    history = session.execute(
        sa.select(
            StateTransition.option_id,
            StateTransition.event,
            StateTransition.from_state,
            StateTransition.to_state,
            StateTransition.cause,
        )
        .where(StateTransition.event == "report")
        .order_by(StateTransition.id)
    ).all()
    messages = sorted(  # per option, whether one message names it or a chunk does
        (option_id, m.args["event"], to_state)
        for m in session.scalars(sa.select(OutboxMessage))
        if m.args.get("event") == "report"
        for option_id, _, to_state in payments.followed_up(m.args)
    )
    recoveries = session.execute(
        sa.select(ReceiptRecovery.iuv, ReceiptRecovery.iur, ReceiptRecovery.option_id).order_by(
            ReceiptRecovery.id
        )
    ).all()
    return {
        "entries": entries,
        "anomalies": anomalies,
        "options": options,
        "history": history,
        "messages": messages,
        "recoveries": recoveries,
    }


def _compare(session: Session, specs: list[tuple[str, str, bool, int]], monkeypatch: Any) -> None:
    results = []
    for match in (flows._match_batch, _one_at_a_time):
        with session.begin_nested() as savepoint:
            data = _build(session, specs)
            with monkeypatch.context() as patch:
                patch.setattr(flows, "_match_batch", match)
                outcome = flows.store_flow(session, data)
                again = flows.store_flow(session, data)
            assert not again.created
            snapshot = _snapshot(session, outcome.flow.id)
            snapshot["outcome"] = (outcome.anomalies, outcome.reported, outcome.flow.status)
            results.append(snapshot)
            savepoint.rollback()
    bulk, single = results
    # ids differ between the two runs (sequences are not rolled back): compare by position
    assert _relative(bulk) == _relative(single)


def _relative(snapshot: dict[str, Any]) -> dict[str, Any]:
    ids: dict[Any, int] = {}

    def rank(value: Any) -> Any:
        return None if value is None else ids.setdefault(value, len(ids))

    for row in snapshot["options"]:
        rank(("o", row.id))
    # IUVs and receipt ids come from the factories' sequences: named by position too
    names: dict[str, str] = {}
    for row in snapshot["entries"]:
        for value in (row.iuv, row.iur):
            names.setdefault(value, f"<{len(names)}>")

    def named(text: str) -> str:
        for value in sorted(names, key=len, reverse=True):
            text = text.replace(value, names[value])
        return text

    return {
        "entries": [
            (
                names[row.iuv],
                names[row.iur],
                *row[2:5],
                rank(("r", row.receipt_pk)),
                rank(("o", row.option_id)),
            )
            for row in snapshot["entries"]
        ],
        "anomalies": [
            (
                row.kind,
                rank(("o", row.option_id)),
                rank(("r", row.receipt_pk)),
                named(row.detail),
            )
            for row in snapshot["anomalies"]
        ],
        "options": [(rank(("o", row.id)), row.status, row.version) for row in snapshot["options"]],
        "history": [(rank(("o", row.option_id)), *row[1:]) for row in snapshot["history"]],
        "messages": sorted((rank(("o", m[0])), *m[1:]) for m in snapshot["messages"]),
        "recoveries": [
            (names.get(row.iuv), names.get(row.iur), rank(("o", row.option_id)))
            for row in snapshot["recoveries"]
        ],
        "outcome": snapshot["outcome"],
    }


@pytest.mark.pg
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(specs=entry_specs)
def test_bulk_matching_is_the_per_entry_matching_on_postgresql(db, monkeypatch, specs):
    _compare(db, specs, monkeypatch)


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(specs=entry_specs)
def test_bulk_matching_is_the_per_entry_matching_on_sqlite(sqlite_engine, monkeypatch, specs):
    with Session(sqlite_engine, expire_on_commit=False) as session:
        _compare(session, specs, monkeypatch)


@pytest.mark.pg
def test_a_flow_larger_than_a_batch_reports_every_option_once(db, monkeypatch):
    monkeypatch.setattr(flows, "BATCH", 3)
    monkeypatch.setattr(flows, "RELAY_LIMIT", 2)
    ente = make_ente(db)
    paid = [paid_option(db, ente) for _ in range(7)]
    entries = [
        Entry(o.iuv, rid, i, Decimal(o.amount_cents) / 100, "0", FLOW_DAY)
        for o, rid in paid
        for i in (1,)
    ]
    outcome = flows.store_flow(db, flow_bytes(ente, entries))
    assert outcome.reported == 7 and outcome.anomalies == []
    assert {o.status for o, _ in paid} == {"reported"}
    causes = db.scalars(
        sa.select(StateTransition.cause).where(StateTransition.event == "report")
    ).all()
    assert causes == [f"fdr:{outcome.flow.flow_id}"] * 7
    # more than RELAY_LIMIT entries: the messages are written for the sweeper, not relayed;
    # one per batch (its options reported together), naming every option once
    messages = [m for m in db.scalars(sa.select(OutboxMessage)) if m.args.get("event") == "report"]
    assert len(messages) == 3
    assert sorted(c[0] for m in messages for c in payments.followed_up(m.args)) == sorted(
        o.id for o, _ in paid
    )
