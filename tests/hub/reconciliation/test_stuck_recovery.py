"""A payment stuck in progress that no reporting flow names: pagoPA's receipts service (Biz
Events 0.1.89) has no operation without the IUR, so recovery cannot ask for it. After
``payhub.recovery_iur_unknown_hours`` support is told (``receipt_needs_iur``, once); a flow that
names the payment later closes the row and resolves the anomaly; at the maximum age the row
gives up without a second anomaly."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
import sqlalchemy as sa

from hub import payments
from hub.models import Anomaly, ReceiptRecovery
from hub.reconciliation import flows, recovery
from hub.values import anomaly_details
from nodesim.reporting import Entry
from tests.conftest import shared_path
from tests.factories import FLOW_DAY, flow_bytes, make_ente, make_position

pytestmark = pytest.mark.pg
NOW = dt.datetime(2026, 12, 8, 9, 0, tzinfo=dt.UTC)


class NeverAsked:
    """The receipts service as its contract allows it to be asked: always with an IUR (a
    call without one fails the test); it has nothing (not found)."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def by_iuv(self, fiscal_code: str, iur: str, iuv: str):
        assert iur, "asked the receipts service without an IUR"
        self.asked.append(iur)

    def by_iur(self, fiscal_code: str, iur: str):
        assert iur, "asked the receipts service without an IUR"
        self.asked.append(iur)


def test_the_receipts_service_has_no_operation_without_the_iur():
    spec = json.loads(shared_path("pagopa", "openapi", "biz_events.json").read_text())
    operations = [op for item in spec["paths"].values() for op in item.values()]
    assert spec["paths"] and all("{iur}" in path for path in spec["paths"])
    assert len(operations) >= 2


def _stuck(db):
    ente = make_ente(db)
    option = make_position(db, ente, amount="25.00").options[0]
    payments.activate(
        db,
        ente,
        option.notice_number,
        requested_cents=2500,
        primitive="paGetPaymentV2",
        now=NOW - dt.timedelta(hours=3),
    )
    db.flush()
    assert recovery.find_stuck(db, now=NOW, stuck_minutes=60, max_age_days=7) == 1
    return ente, option


def _needs_iur(db):
    return db.scalars(sa.select(Anomaly).where(Anomaly.kind == "receipt_needs_iur")).all()


def test_a_stuck_payment_no_flow_names_is_flagged_once_after_the_configured_age(db):
    ente, option = _stuck(db)
    api = NeverAsked()
    early = recovery.run_due(db, api, now=NOW + dt.timedelta(hours=47), iur_unknown_hours=48)
    assert early.needs_iur == 0 and _needs_iur(db) == []
    late = NOW + dt.timedelta(hours=49)
    assert recovery.run_due(db, api, now=late, iur_unknown_hours=48).needs_iur == 1
    later = late + dt.timedelta(hours=2)
    assert recovery.run_due(db, api, now=later, iur_unknown_hours=48).needs_iur == 0
    (anomaly,) = _needs_iur(db)
    assert anomaly.option_id == option.id and anomaly.ente_id == ente.id
    sentence = anomaly_details.english(anomaly.detail)
    assert option.iuv in sentence and "only by IUR" in sentence
    row = db.scalars(sa.select(ReceiptRecovery)).one()
    assert (row.status, row.reason, row.attempts) == ("pending", "stuck", 0)

    # at the maximum age it gives up, without a second anomaly
    end = NOW + dt.timedelta(days=8)
    assert recovery.run_due(db, api, now=end, iur_unknown_hours=48).given_up == 1
    assert db.scalar(sa.select(sa.func.count()).select_from(Anomaly)) == 1
    assert row.status == "given_up" and api.asked == []


def test_a_flow_naming_the_payment_later_closes_the_row_and_resolves_the_anomaly(db):
    ente, option = _stuck(db)
    api = NeverAsked()
    late = NOW + dt.timedelta(hours=49)
    assert recovery.run_due(db, api, now=late, iur_unknown_hours=48).needs_iur == 1
    entry = Entry(option.iuv, "IUR-LATE-1", 1, Decimal("25.00"), "0", FLOW_DAY)
    flows.store_flow(db, flow_bytes(ente, [entry]), now=late)
    stuck = db.scalars(sa.select(ReceiptRecovery).where(ReceiptRecovery.reason == "stuck")).one()
    stuck.next_attempt_at = late  # due again now
    recovery.run_due(db, api, now=late + dt.timedelta(minutes=1), iur_unknown_hours=48)
    assert stuck.status == "superseded"
    assert api.asked == ["IUR-LATE-1", "IUR-LATE-1"]  # the flow's own row, by IUV then IUR
    (anomaly,) = _needs_iur(db)
    assert anomaly.resolved_at is not None and "flow" in anomaly.resolution_note
