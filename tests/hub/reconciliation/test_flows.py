"""Reporting flows: stored once, matched to real receipts, paid options reported with history,
every mismatch flagged; hostile or malformed flows refused."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub import payments
from hub.models import (
    OutboxMessage,
    ReportingEntry,
    ReportingFlow,
    StateTransition,
)
from hub.notify import webhooks
from hub.reconciliation import flows
from nodesim.reporting import Entry
from tests.conftest import shared_path, shared_schema
from tests.factories import (
    FLOW_CREATED,
    FLOW_DAY,
    entry,
    flow_bytes,
    make_ente,
    make_position,
    make_receipt,
    paid_option,
)

pytestmark = pytest.mark.pg
DAY, CREATED = FLOW_DAY, FLOW_CREATED


@pytest.fixture
def fdr_xsd_files() -> tuple:
    base = shared_path("pagopa", "xsd-common")
    return flows.schemas(
        [base / "FlussoRiversamento_1_0_4.xsd", base / "FlussoRiversamento_1_0_5.xsd"]
    )


def test_a_flow_of_paid_receipts_reports_each_option_with_history_and_webhooks(db, fdr_xsd_files):
    ente = make_ente(db)
    webhooks.register_endpoint(db, ente, "https://ente.example/hook", events=["payment.reported"])
    (a, ra), (b, rb) = paid_option(db, ente), paid_option(db, ente, "12.50")
    data = flow_bytes(ente, [entry(a, ra), entry(b, rb)])

    outcome = flows.store_flow(db, data, xsd=fdr_xsd_files)

    assert outcome.created and outcome.reported == 2 and outcome.anomalies == []
    flow = outcome.flow
    assert (flow.status, flow.computed_count, flow.computed_total_cents) == ("received", 2, 4250)
    assert (flow.declared_count, flow.declared_total_cents) == (2, 4250)
    assert flow.psp_id == "BCITITMM" and flow.settlement_date == DAY + dt.timedelta(days=1)
    assert [e.match for e in flow.entries] == ["matched", "matched"]
    assert {a.status, b.status} == {"reported"}
    history = db.execute(
        sa.select(
            StateTransition.from_state, StateTransition.to_state, StateTransition.cause
        ).where(StateTransition.option_id == a.id, StateTransition.event == "report")
    ).all()
    assert history == [("paid", "reported", f"fdr:{flow.flow_id}")]
    messages = db.scalars(
        sa.select(OutboxMessage.args).where(
            OutboxMessage.actor_name == payments.STATUS_CHANGED_ACTOR
        )
    ).all()
    reported = [c for m in messages for c in payments.followed_up(m) if c[2] == "reported"]
    assert {c[0] for c in reported} == {a.id, b.id}
    # what the payment_status_changed actor does with that message
    assert webhooks.notify_transition(db, a.id, "report", "paid", "reported") == 1


def test_the_same_flow_twice_stores_and_changes_nothing(db):
    ente = make_ente(db)
    option, rid = paid_option(db, ente)
    data = flow_bytes(ente, [entry(option, rid)])
    first = flows.store_flow(db, data)
    transitions = db.scalar(sa.select(sa.func.count()).select_from(StateTransition))

    again = flows.store_flow(db, data)

    assert not again.created and again.flow.id == first.flow.id and again.reported == 0
    assert db.scalar(sa.select(sa.func.count()).select_from(ReportingFlow)) == 1
    assert db.scalar(sa.select(sa.func.count()).select_from(ReportingEntry)) == 1
    assert db.scalar(sa.select(sa.func.count()).select_from(StateTransition)) == transitions


def test_a_newer_version_of_a_flow_supersedes_the_older_and_an_older_one_stays_unmatched(db):
    ente = make_ente(db)
    option, rid = paid_option(db, ente)
    v1 = flows.store_flow(db, flow_bytes(ente, [entry(option, rid)]))
    v2 = flows.store_flow(
        db, flow_bytes(ente, [entry(option, rid)], created_at=CREATED + dt.timedelta(hours=5))
    )
    late = flows.store_flow(
        db, flow_bytes(ente, [entry(option, rid)], created_at=CREATED - dt.timedelta(hours=5))
    )

    db.refresh(v1.flow)
    assert (v1.flow.status, v2.flow.status, late.flow.status) == (
        "superseded",
        "received",
        "superseded",
    )
    assert v2.reported == 0 and option.status == "reported"  # already reported by v1
    assert [e.match for e in late.flow.entries] == ["superseded"]
    assert v2.anomalies == []


def test_an_entry_without_a_receipt_is_flagged(db):
    ente = make_ente(db)
    unpaid = make_position(db, ente).options[0]
    outcome = flows.store_flow(db, flow_bytes(ente, [entry(unpaid, "never-sent")]))

    assert outcome.anomalies == ["fdr_entry_without_receipt"]
    assert outcome.flow.status == "anomalous"
    assert outcome.flow.entries[0].match == "no_receipt"
    assert outcome.flow.entries[0].option_id == unpaid.id  # found by IUV, for support
    assert unpaid.status == "payable"


def test_an_amount_other_than_the_transfer_is_flagged_and_still_reported(db):
    ente = make_ente(db)
    option, rid = paid_option(db, ente)
    outcome = flows.store_flow(db, flow_bytes(ente, [entry(option, rid, "29.00")]))

    assert outcome.anomalies == ["fdr_amount_mismatch"]
    assert outcome.flow.entries[0].match == "amount_mismatch"
    assert option.status == "reported"


def test_declared_totals_that_disagree_with_the_entries_are_flagged(db):
    ente = make_ente(db)
    option, rid = paid_option(db, ente)
    outcome = flows.store_flow(db, flow_bytes(ente, [entry(option, rid)], inconsistent=True))

    assert outcome.anomalies == ["fdr_totals_mismatch"]
    flow = outcome.flow
    assert (flow.declared_count, flow.declared_total_cents) == (2, 3100)
    assert (flow.computed_count, flow.computed_total_cents) == (1, 3000)
    assert option.status == "reported"


def test_a_receipt_whose_notice_is_not_in_a_paid_state_is_flagged(db):
    ente = make_ente(db)
    option = make_position(db, ente).options[0]
    # a receipt for a notice unknown here: stored without an option by store_receipt
    payments.store_receipt(
        db,
        make_receipt(
            "301000000000099999", ente.fiscal_code, receipt_id="orphan", amount_cents=3000
        ),
    )
    data = flow_bytes(ente, [Entry("01000000000099999", "orphan", 1, Decimal("30.00"), "0", DAY)])
    outcome = flows.store_flow(db, data)

    assert outcome.anomalies == ["fdr_notice_not_paid"]
    assert outcome.flow.entries[0].match == "not_paid" and option.status == "payable"


def test_outcome_codes_revoked_and_paid_without_rpt(db):
    ente = make_ente(db)
    paid, rid = paid_option(db, ente)
    revoked, rrid = paid_option(db, ente)
    unknown = make_position(db, ente).options[0]
    data = flow_bytes(
        ente,
        [
            entry(paid, rid, code="9"),
            entry(revoked, rrid, code="3"),
            entry(unknown, "no-rpt", code="9"),
        ],
    )
    outcome = flows.store_flow(db, data)

    assert sorted(outcome.anomalies) == ["fdr_paid_without_rpt", "fdr_payment_revoked"]
    assert [e.match for e in outcome.flow.entries] == ["matched", "revoked", "without_rpt"]
    # code 9 with a receipt of ours: a payment like any other; code 3 moves nothing
    assert (paid.status, revoked.status, unknown.status) == ("reported", "paid", "payable")


def test_a_flow_for_an_ente_not_served_is_refused(db):
    ente, other = make_ente(db), make_ente(db)
    option, rid = paid_option(db, ente)
    with pytest.raises(flows.FlowRefused):
        flows.store_flow(db, flow_bytes(ente, [entry(option, rid)]), served_ente_ids={other.id})
    assert db.scalar(sa.select(sa.func.count()).select_from(ReportingFlow)) == 0


@pytest.mark.parametrize(
    "document",
    [
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
        b'<!DOCTYPE lol [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><r>&b;</r>',
        b"<not-closed>",
        b"",
    ],
    ids=["external-entity", "entity-expansion", "malformed", "empty"],
)
def test_hostile_or_malformed_xml_is_refused_before_anything_is_read(db, document):
    with pytest.raises(flows.InvalidFlow):
        flows.store_flow(db, document)


def test_a_flow_against_the_official_xsd_is_refused(db, fdr_xsd_files):
    ente = make_ente(db)
    option, rid = paid_option(db, ente)
    data = flow_bytes(ente, [entry(option, rid)]).replace(
        b"<pay_i:versioneOggetto>1.0<", b"<pay_i:versioneOggetto>7.7<"
    )
    with pytest.raises(flows.InvalidFlow, match="XSD"):
        flows.store_flow(db, data, xsd=fdr_xsd_files)


def test_our_own_strict_reading_refuses_bad_fields_without_the_xsd():
    bad_code = flow_bytes(_FakeEnte, [Entry("1", "r", 1, Decimal("1.00"), "0", DAY)]).replace(
        b"<pay_i:codiceEsitoSingoloPagamento>0<", b"<pay_i:codiceEsitoSingoloPagamento>5<"
    )
    with pytest.raises(flows.InvalidFlow, match="codiceEsito"):
        flows.parse_flow(bad_code)
    bad_amount = flow_bytes(_FakeEnte, [Entry("1", "r", 1, Decimal("1.00"), "0", DAY)]).replace(
        b">1.00<", b">1.0<"
    )
    with pytest.raises(flows.InvalidFlow, match="amount"):
        flows.parse_flow(bad_amount)


def test_the_peer_samples_of_the_real_node_are_read():
    folder = shared_path("peer-material", "reporting", "decoded")
    schema = shared_schema("pagopa", "xsd-common", "FlussoRiversamento_1_0_4.xsd")
    read = 0
    for path in sorted(folder.glob("*FlussoRiversamento.xml")):
        data = path.read_bytes()
        if b"#" in data:  # templates with placeholders, not flows
            continue
        parsed = flows.parse_flow(data, (schema,))
        assert parsed.entries and parsed.declared_count >= 1
        read += 1
    assert read >= 1


class _FakeEnte:
    fiscal_code = "77777777777"
    name = "Ente di prova"


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    amounts=st.lists(st.integers(min_value=1, max_value=99_999_999), min_size=1, max_size=6),
    inconsistent=st.booleans(),
)
def test_computed_totals_are_the_exact_sum_of_entries_in_cents(amounts, inconsistent):
    entries = [
        Entry(f"0100000000000{n:04d}", f"r{n}", 1, Decimal(c) / 100, "0", DAY)
        for n, c in enumerate(amounts)
    ]
    parsed = flows.parse_flow(flow_bytes(_FakeEnte, entries, inconsistent=inconsistent))
    assert [e.amount_cents for e in parsed.entries] == amounts
    assert parsed.declared_total_cents == sum(amounts) + (100 if inconsistent else 0)
    assert parsed.declared_count == len(amounts) + (1 if inconsistent else 0)


def test_a_latin1_flow_is_read_and_kept_byte_for_byte(db):
    from lxml import etree

    ente = make_ente(db)
    option, rid = paid_option(db, ente)
    utf8 = flow_bytes(ente, [entry(option, rid)]).replace(
        b"Banca di prova", "Banca più vicina".encode()
    )
    latin1 = etree.tostring(etree.fromstring(utf8), encoding="ISO-8859-1", xml_declaration=True)
    outcome = flows.store_flow(db, latin1)

    assert outcome.flow.psp_name == "Banca più vicina" and option.status == "reported"
    assert outcome.flow.raw_xml.encode("latin-1") == latin1
