"""An FdR 3 flow stored page by page (``flows.store_fdr3_pages``): each page read, written as
fetched and matched before the next is asked for, batches of entries matched across pages; a
page that cannot be read undoes the earlier ones; a stored revision asks for no page."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from hub.models import (
    PaymentOption,
    ReceiptRecovery,
    ReportingEntry,
    ReportingFlow,
    ReportingFlowPage,
    StateTransition,
)
from hub.reconciliation import flows
from tests.factories import make_ente, make_position, paid_option

pytestmark = pytest.mark.pg
NOW = dt.datetime(2026, 12, 8, 9, 0, tzinfo=dt.UTC)


def _flow(ec: str, fdr: str, payments: list[dict]) -> dict:
    cents = sum(round(p["pay"] * 100) for p in payments)
    return {
        "fdr": fdr,
        "revision": 1,
        "fdrDate": "2026-12-08T08:00:00Z",
        "published": "2026-12-08T09:00:00Z",
        "regulation": "SEPA-0001",
        "regulationDate": "2026-12-08",
        "sender": {"type": "BIC_CODE", "pspId": "BCITITMM", "pspName": "Banca"},
        "receiver": {"organizationId": ec, "organizationName": "Ente"},
        "totPayments": len(payments),
        "sumPayments": f"{cents // 100}.{cents % 100:02d}",
    }


def _pay(n: int, iuv: str, iur: str, amount: float) -> dict:
    return {
        "index": n,
        "iuv": iuv,
        "iur": iur,
        "idTransfer": 1,
        "pay": amount,
        "payStatus": "EXECUTED",
        "payDate": "2026-12-07T10:00:00Z",
    }


class Pages:
    """Payments served ``size`` a page, counting the pages asked for."""

    def __init__(self, payments: list[dict], size: int) -> None:
        self.payments, self.size, self.asked = payments, size, 0

    def __iter__(self) -> Iterator[list[dict]]:
        for start in range(0, len(self.payments), self.size):
            self.asked += 1
            yield self.payments[start : start + self.size]


def test_pages_are_stored_as_fetched_and_matched_in_batches_across_pages(db, monkeypatch):
    monkeypatch.setattr(flows, "BATCH", 3)  # batches that straddle pages
    ente = make_ente(db)
    paid = [paid_option(db, ente) for _ in range(5)]
    unpaid = make_position(db, ente).options[0]
    payments = [_pay(n, o.iuv, rid, o.amount_cents / 100) for n, (o, rid) in enumerate(paid, 1)]
    payments.append(_pay(6, unpaid.iuv, "never-paid", unpaid.amount_cents / 100))
    pages = Pages(payments, 2)
    flow = _flow(ente.fiscal_code, "2026-12-08BCITITMM-S001", payments)
    outcome = flows.store_fdr3_pages(db, flow, pages, revision=1, published_at=None, now=NOW)

    assert outcome.created and outcome.reported == 5 and pages.asked == 3
    stored = outcome.flow
    assert (stored.computed_count, stored.computed_total_cents) == (
        6,
        sum(round(p["pay"] * 100) for p in payments),
    )
    assert stored.status == "anomalous"  # the entry without a receipt
    assert json.loads(stored.raw_json) == {"flow": flow}
    kept = db.execute(
        sa.select(ReportingFlowPage.page, ReportingFlowPage.payments_json)
        .where(ReportingFlowPage.flow_pk == stored.id)
        .order_by(ReportingFlowPage.page)
    ).all()
    assert [(n, json.loads(text)) for n, text in kept] == [
        (1, payments[0:2]),
        (2, payments[2:4]),
        (3, payments[4:6]),
    ]
    entries = db.execute(
        sa.select(ReportingEntry.iuv, ReportingEntry.match)
        .where(ReportingEntry.flow_pk == stored.id)
        .order_by(ReportingEntry.id)
    ).all()
    assert entries == [(p["iuv"], "matched") for p in payments[:5]] + [(unpaid.iuv, "no_receipt")]
    statuses = db.scalars(
        sa.select(PaymentOption.status).where(PaymentOption.id.in_([o.id for o, _ in paid]))
    ).all()
    assert statuses == ["reported"] * 5
    history = db.scalars(
        sa.select(StateTransition.cause).where(StateTransition.event == "report")
    ).all()
    assert history == ["fdr:2026-12-08BCITITMM-S001"] * 5
    recovery = db.execute(sa.select(ReceiptRecovery.iuv, ReceiptRecovery.iur)).all()
    assert recovery == [(unpaid.iuv, "never-paid")]


def test_a_page_that_cannot_be_read_undoes_the_pages_before_it(db, monkeypatch):
    monkeypatch.setattr(flows, "BATCH", 2)  # the first pages are matched before the bad one
    ente = make_ente(db)
    paid = [paid_option(db, ente) for _ in range(4)]
    payments = [_pay(n, o.iuv, rid, o.amount_cents / 100) for n, (o, rid) in enumerate(paid, 1)]
    payments[3]["payStatus"] = "REVOKED"
    flow = _flow(ente.fiscal_code, "2026-12-08BCITITMM-S002", payments)
    with pytest.raises(flows.InvalidFlow, match="payStatus"):
        flows.store_fdr3_pages(db, flow, Pages(payments, 3), revision=1, published_at=None)
    for table in (ReportingFlow, ReportingFlowPage, ReportingEntry, ReceiptRecovery):
        assert db.scalar(sa.select(sa.func.count()).select_from(table)) == 0
    assert db.scalar(sa.select(sa.func.count()).where(StateTransition.event == "report")) == 0
    assert {o.status for o, _ in paid} == {"paid"}
    # the transaction goes on: the flow can be stored once it is right
    payments[3]["payStatus"] = "EXECUTED"
    outcome = flows.store_fdr3_pages(db, flow, Pages(payments, 3), revision=1, published_at=None)
    assert outcome.created and outcome.reported == 4


def test_a_revision_already_stored_asks_for_no_page(db):
    ente = make_ente(db)
    option, rid = paid_option(db, ente)
    payments = [_pay(1, option.iuv, rid, option.amount_cents / 100)]
    flow = _flow(ente.fiscal_code, "2026-12-08BCITITMM-S003", payments)
    first = flows.store_fdr3_pages(db, flow, Pages(payments, 1), revision=1, published_at=None)
    again = Pages(payments, 1)
    second = flows.store_fdr3_pages(db, flow, again, revision=1, published_at=None)
    assert first.created and not second.created and second.flow.id == first.flow.id
    assert again.asked == 0


def test_a_flow_without_payments_is_refused(db):
    ente = make_ente(db)
    flow = _flow(ente.fiscal_code, "2026-12-08BCITITMM-S004", [])
    flow["totPayments"] = 1
    with pytest.raises(flows.InvalidFlow, match="no payments"):
        flows.store_fdr3_pages(db, flow, Pages([], 10), revision=1, published_at=None)
    assert db.scalar(sa.select(sa.func.count()).select_from(ReportingFlow)) == 0
