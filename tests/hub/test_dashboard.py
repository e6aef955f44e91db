"""The dashboard's queries: counts by state, search filters, an option's story, flows and
credits, stuck payments and anomalies."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from hub import clock, dashboard, payments
from hub.errors import Conflict
from hub.models import Anomaly, PaymentOption, StateTransition, WebhookDelivery
from hub.notify import webhooks
from hub.positions.inputs import DebtPositionInput, OptionInput, TransferInput
from hub.positions.writer import create_position
from hub.reconciliation import flows
from tests.factories import (
    IBAN,
    entry,
    flow_bytes,
    make_ente,
    make_position,
    make_receipt,
    paid_option,
)

pytestmark = pytest.mark.pg


def _position(db, ente, *, iupd: str, debtor: str = "VRDGPP70B02F205X", amount: str = "10.00"):
    return create_position(
        db,
        ente,
        DebtPositionInput.of(
            iupd=iupd,
            debtor_type="F",
            debtor_fiscal_code=debtor,
            debtor_name="Giuseppe Verdi",
            description="Search me",
            options=[
                OptionInput.of(
                    amount=amount,
                    due_date=clock.today() + dt.timedelta(days=10),
                    transfers=[
                        TransferInput.of(
                            amount=amount,
                            remittance_information="Test",
                            category="9/0101108TS/",
                            iban=IBAN,
                        )
                    ],
                )
            ],
        ),
        publish=True,
        cause="test",
    ).options[0]


def delivery_for(db, ente, option, *, status: str = "pending") -> WebhookDelivery:
    endpoint = webhooks.register_endpoint(db, ente, "https://ente.example/hook").endpoint
    delivery = webhooks.notify(
        db, endpoint, f"evt-{option.id}", "payment.paid", {"noticeNumber": option.notice_number}
    )
    delivery.status = status
    db.flush()
    return delivery


def test_counts_by_state_count_options_entering_each_state_with_their_amounts(db):
    ente = make_ente(db)
    make_position(db, ente, amount="12.00")
    paid_option(db, ente, amount="30.00")
    today, _month = dashboard.period_starts()
    counts = dashboard.counts_by_state(db, ente.id, today)
    assert counts["payable"] == (2, 4200)
    assert counts["paid"] == (1, 3000)
    assert counts["reconciled"] == (0, 0)
    assert list(counts) == list(dashboard.STATES)
    tomorrow = clock.today() + dt.timedelta(days=1)  # the counters are per Italian day
    assert dashboard.counts_by_state(db, ente.id, tomorrow)["paid"] == (0, 0)


def test_latest_transitions_are_newest_first_and_of_the_ente_only(db):
    ente, other = make_ente(db), make_ente(db)
    option, _ = paid_option(db, ente)
    make_position(db, other)
    rows = dashboard.latest_transitions(db, ente.id)
    assert [t.event for t, _n, _i in rows] == ["receive_receipt", "publish"]
    assert {n for _t, n, _i in rows} == {option.notice_number}


def test_each_search_filter_narrows_the_results(db):
    ente, other = make_ente(db), make_ente(db)
    first = _position(db, ente, iupd="IUPD-A", debtor="VRDGPP70B02F205X")
    second = _position(db, ente, iupd="IUPD-B", debtor="BNCLRA85C41F205Y")
    paid, _ = paid_option(db, ente)
    _position(db, other, iupd="IUPD-A", debtor="VRDGPP70B02F205X")

    def found(**kw) -> set[int]:
        return {o.id for o, _p in dashboard.search(db, ente.id, dashboard.Filters(**kw))}

    assert found() == {first.id, second.id, paid.id}
    assert found(notice_number=second.notice_number) == {second.id}
    assert found(iuv=first.iuv) == {first.id}
    assert found(iupd="IUPD-A") == {first.id}
    assert found(debtor_fiscal_code="bnclra85c41f205y") == {second.id}
    assert found(state="paid") == {paid.id}
    db.execute(
        sa.update(PaymentOption)
        .where(PaymentOption.id == first.id)
        .values(created_at=dt.datetime(2026, 1, 15, 12, tzinfo=dt.UTC))
    )
    jan = {"date_from": dt.date(2026, 1, 1), "date_to": dt.date(2026, 1, 31)}
    assert found(**jan) == {first.id}
    assert found(date_from=dt.date(2026, 1, 16)) == {second.id, paid.id}
    assert found(date_to=dt.date(2026, 1, 15)) == {first.id}
    assert len(list(dashboard.stream_search(db, ente.id, dashboard.Filters()))) == 3


def test_option_story_has_the_history_in_order_and_its_deliveries(db):
    ente = make_ente(db)
    option = make_position(db, ente).options[0]
    delivery_for(db, ente, option)
    payments.activate(
        db,
        ente,
        option.notice_number,
        requested_cents=option.amount_cents,
        primitive="paGetPaymentV2",
    )
    payments.store_receipt(db, make_receipt(option, ente.fiscal_code))
    story = dashboard.option_story(db, option)
    assert [t.event for t in story["transitions"]] == ["publish", "activate", "receive_receipt"]
    assert len(story["attempts"]) == 1 and len(story["receipts"]) == 1
    assert len(story["transfers"]) == 1
    assert [d.event_type for d in story["deliveries"]] == ["payment.paid"]


def test_flows_say_whether_they_were_credited_and_list_their_entries(db):
    ente = make_ente(db)
    option, rid = paid_option(db, ente)
    flow = flows.store_flow(db, flow_bytes(ente, [entry(option, rid)])).flow
    [(row, credited)] = dashboard.flows(db, ente.id)
    assert row.id == flow.id and credited is False
    [(e, notice)] = dashboard.flow_entries(db, flow)
    assert notice == option.notice_number and e.match == "matched"


def test_stuck_payments_of_each_category(db):
    ente = make_ente(db)
    now = dt.datetime.now(dt.UTC)
    lapsed = make_position(db, ente).options[0]
    payments.activate(
        db,
        ente,
        lapsed.notice_number,
        requested_cents=lapsed.amount_cents,
        primitive="paGetPaymentV2",
        now=now - dt.timedelta(hours=3),
    )
    fresh = make_position(db, ente).options[0]
    payments.activate(
        db,
        ente,
        fresh.notice_number,
        requested_cents=fresh.amount_cents,
        primitive="paGetPaymentV2",
    )
    old_paid, _ = paid_option(db, ente)
    old_paid.paid_at = now - dt.timedelta(days=4)
    paid_option(db, ente)  # paid just now: not stuck
    reported, rid = paid_option(db, ente)
    flows.store_flow(db, flow_bytes(ente, [entry(reported, rid)]))
    db.execute(
        sa.update(StateTransition)
        .where(StateTransition.option_id == reported.id, StateTransition.to_state == "reported")
        .values(created_at=now - dt.timedelta(days=6))
    )
    db.flush()

    assert [o.id for o, _ec in dashboard.stuck_in_progress(db)] == [lapsed.id]
    assert [o.id for o, _ec in dashboard.paid_not_reported(db)] == [old_paid.id]
    assert [o.id for o, _ec in dashboard.reported_not_reconciled(db)] == [reported.id]
    assert dashboard.reported_not_reconciled(db, days=7) == []


def test_open_anomalies_filtered_then_resolved(db):
    ente, other = make_ente(db), make_ente(db)
    mine = Anomaly(kind="double_payment", ente_id=ente.id, detail="x")
    theirs = Anomaly(kind="credit_unknown_flow", ente_id=other.id, detail="y")
    db.add_all([mine, theirs])
    db.flush()
    assert {a.id for a, _ in dashboard.open_anomalies(db, kind="double_payment")} >= {mine.id}
    assert [a.id for a, _ in dashboard.open_anomalies(db, ente_id=other.id)] == [theirs.id]
    dashboard.resolve_anomaly(db, mine.id, note="refunded", by="ops:someone")
    assert (mine.resolution_note, mine.resolved_by) == ("refunded", "ops:someone")
    assert mine.id not in {a.id for a, _ in dashboard.open_anomalies(db)}
    with pytest.raises(Conflict):
        dashboard.resolve_anomaly(db, mine.id, note="again", by="ops:someone")


def test_latest_transitions_reach_back_past_other_entis_newer_history(db):
    """The walk starts within the Ente's latest active days and widens until it has enough."""
    ente, other = make_ente(db), make_ente(db)
    old = [make_position(db, ente, publish=False).options[0] for _ in range(3)]
    days_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
    for n, option in enumerate(old):
        payments.record_transitions(
            db,
            [(option.id, "draft", "payable")],
            "publish",
            cause="t",
            now=days_ago + dt.timedelta(days=n * 10),
        )
    for _ in range(5):
        make_position(db, other)  # newer, another Ente's
    db.flush()
    rows = dashboard.latest_transitions(db, ente.id, limit=20)
    assert [i for _t, _n, i in rows] == [o.id for o in reversed(old)]
    assert len(dashboard.latest_transitions(db, ente.id, limit=2)) == 2
    assert dashboard.latest_transitions(db, make_ente(db).id) == []
