"""The SLA contract: help-desk tickets (workflow, paused clock, history, e-mail to the
reporter), maintenance windows and their notices' lead, the verdicts, anomalies, the report."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
import sqlalchemy as sa

from hub.calendar import BusinessCalendar
from hub.config import Config
from hub.models import Anomaly, Ente
from hub.models.sla import SlaMinute, SlaProbe
from hub.models.sla_contract import SlaMail
from hub.seed import seed_demo
from hub.sla import anomalies, contract, contract_report, helpdesk, mailer, maintenance
from workflows.ticket import TicketState

pytestmark = pytest.mark.pg
ROME = zoneinfo.ZoneInfo("Europe/Rome")
CAL = BusinessCalendar.from_settings(
    {"payhub.sla_business_hours": "mon-fri 08:30-18:30; sat 08:30-13:30"}
)


def rome(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=ROME)


def ticket_input(severity: str = "blocking", email: str | None = "ref@comune.demo.it"):
    return helpdesk.TicketInput(
        subject="Il portale non risponde",
        description="Da stamattina i cittadini vedono un errore.",
        severity=severity,
        severity_reason="no citizen can pay",
        reporter_kind="referente",
        reporter_name="Mario Rossi",
        reporter_email=email,
        ente_code="77777777777",
    )


def test_a_ticket_goes_through_its_states_with_history_and_a_paused_clock(db):
    t = helpdesk.open_ticket(db, CAL, ticket_input(), rome(2027, 1, 8, 18, 0), "ops:anna")
    assert t.state == TicketState.OPENED
    # take-over deadline: 30 minutes on Friday, then Saturday 08:30 + 30
    assert t.response_due_at == rome(2027, 1, 9, 9, 0)
    helpdesk.fire(db, CAL, t.id, "take_over", rome(2027, 1, 9, 8, 45), "ops:anna")
    assert helpdesk.take_over_minutes(t, CAL, rome(2027, 1, 9, 12, 0)) == 45.0
    helpdesk.fire(db, CAL, t.id, "ask_reporter", rome(2027, 1, 9, 9, 0), "ops:anna", note="Which?")
    # waiting from Saturday 09:00 to Monday 10:00: 4.5 + 1.5 business hours do not count
    helpdesk.fire(db, CAL, t.id, "reporter_answered", rome(2027, 1, 11, 10, 0), "ops:anna")
    assert t.paused_seconds == 6 * 3600
    helpdesk.fire(db, CAL, t.id, "resolve", rome(2027, 1, 11, 11, 0), "ops:anna", note="Fixed.")
    # fix clock: 30 (Fri) + 300 (Sat) + 150 (Mon to 11:00) - 360 paused = 120 minutes
    assert helpdesk.fix_minutes(t, CAL, rome(2027, 1, 12, 0, 0)) == 120.0
    helpdesk.fire(db, CAL, t.id, "close", rome(2027, 1, 12, 9, 0), "ops:anna")
    helpdesk.fire(db, CAL, t.id, "reopen", rome(2027, 1, 12, 10, 0), "ops:anna")
    assert t.state == TicketState.TAKEN_OVER and t.resolved_at is None
    assert [(e.event, e.to_state) for e in helpdesk.history(db, t.id)] == [
        ("open", "opened"),
        ("take_over", "taken_over"),
        ("ask_reporter", "waiting_reporter"),
        ("reporter_answered", "taken_over"),
        ("resolve", "resolved"),
        ("close", "closed"),
        ("reopen", "taken_over"),
    ]
    with pytest.raises(helpdesk.HelpdeskError):
        helpdesk.fire(db, CAL, t.id, "close", rome(2027, 1, 12, 11, 0), "ops:anna")
    mails = db.scalars(sa.select(SlaMail).where(SlaMail.ticket_id == t.id)).all()
    assert [m.recipient for m in mails] == ["ref@comune.demo.it"] * 2
    assert "preso in carico" in mails[0].body and "risolto" in mails[1].body


@pytest.mark.parametrize(
    "change",
    [
        {"severity": "urgent"},
        {"reporter_kind": "mayor"},
        {"subject": " "},
        {"reporter_email": "a@b.it\r\nBcc: x@y.it"},
    ],
)
def test_bad_tickets_are_refused(db, change):
    data = ticket_input().__dict__ | change
    with pytest.raises(helpdesk.HelpdeskError):
        helpdesk.open_ticket(db, CAL, helpdesk.TicketInput(**data), rome(2027, 1, 8, 9), "ops:a")


def test_the_reporter_gets_the_mails_over_smtp(committed_factory, smtp):
    config = Config.from_settings({**smtp.settings})
    with committed_factory.begin() as session:
        t = helpdesk.open_ticket(session, CAL, ticket_input(), rome(2027, 1, 8, 9), "ops:a")
        helpdesk.fire(session, CAL, t.id, "take_over", rome(2027, 1, 8, 9, 10), "ops:a")
        helpdesk.fire(session, CAL, t.id, "resolve", rome(2027, 1, 8, 10), "ops:a", note="Ok")
    smtp.fail_next(1)
    assert mailer.deliver_pending(committed_factory, config) == (1, 1)
    assert mailer.deliver_pending(committed_factory, config) == (1, 0)
    smtp.wait_for(2)
    subjects = sorted(m["Subject"] for m in smtp.messages)
    assert all(m["To"] == "ref@comune.demo.it" for m in smtp.messages)
    assert any("preso in carico" in s for s in subjects) and any("risolto" in s for s in subjects)
    assert mailer.deliver_pending(committed_factory, config) == (0, 0)  # never twice


def test_maintenance_notices_reach_each_referente_and_their_lead_is_measured(
    committed_factory, smtp
):
    config = Config.from_settings({**smtp.settings})
    with committed_factory.begin() as session:
        seed_demo(session)
        now = dt.datetime.now(dt.UTC)
        early = maintenance.plan(
            session,
            starts_at=now + dt.timedelta(days=4),
            ends_at=now + dt.timedelta(days=4, hours=2),
            affects="pagamenti e avvisi",
            ente_codes=[],
            actor="ops:a",
            now=now,
        )
        late = maintenance.plan(
            session,
            starts_at=now + dt.timedelta(days=1),
            ends_at=now + dt.timedelta(days=1, hours=1),
            affects="portale",
            ente_codes=["77777777777"],
            actor="ops:a",
            now=now,
        )
        enti = session.scalars(sa.select(Ente).where(Ente.referente_email.is_not(None))).all()
        early_id, late_id = early.id, late.id
    assert mailer.deliver_pending(committed_factory, config)[0] == len(enti) + 1
    smtp.wait_for(len(enti) + 1)
    assert {m["To"] for m in smtp.messages} == {e.referente_email for e in enti}
    with committed_factory() as session:
        lines = {
            w.window.id: w
            for w in maintenance.windows(
                session, now - dt.timedelta(days=1), now + dt.timedelta(days=10)
            )
        }
        assert lines[early_id].on_time and lines[early_id].lead_hours >= 95.9
        assert not lines[late_id].on_time and lines[late_id].lead_hours < 24.1
        assert maintenance.figure(
            session, now - dt.timedelta(days=1), now + dt.timedelta(days=10)
        ) == (2, 1)
        assert maintenance.active(session, now + dt.timedelta(days=1, minutes=5)).id == late_id
        assert maintenance.active(session, now) is None


def test_a_maintenance_window_must_make_sense(db):
    now = dt.datetime.now(dt.UTC)
    with pytest.raises(maintenance.MaintenanceError):
        maintenance.plan(
            db, starts_at=now, ends_at=now, affects="x", ente_codes=[], actor="a", now=now
        )
    with pytest.raises(maintenance.MaintenanceError):
        maintenance.plan(
            db,
            starts_at=now,
            ends_at=now + dt.timedelta(hours=1),
            affects="x",
            ente_codes=["00000000000"],
            actor="a",
            now=now,
        )


def test_verdicts_say_target_measured_count_and_met_or_breached(db):
    start, end = rome(2027, 1, 1), rome(2027, 5, 1)
    now = rome(2027, 2, 1)
    # 100 answers, 3 over 2 s: 97 % < 98 %
    db.add(
        SlaMinute(
            minute=rome(2027, 1, 5, 10, 0),
            operation="paVerifyPaymentNotice",
            source="t",
            count=100,
            over_threshold=3,
            total_seconds=50.0,
            max_seconds=3.0,
            histogram=[90, 0, 0, 0, 0, 0, 7, 3, 0, 0],
        )
    )
    t = helpdesk.open_ticket(db, CAL, ticket_input(), rome(2027, 1, 11, 9, 0), "ops:a")
    helpdesk.fire(db, CAL, t.id, "take_over", rome(2027, 1, 11, 9, 30), "ops:a")
    helpdesk.fire(db, CAL, t.id, "resolve", rome(2027, 1, 11, 12, 0), "ops:a")
    db.flush()
    by_key = {v.key: v for v in contract.verdicts(db, CAL, start, end, now)}
    assert by_key["answers_2s"].measured == 97.0 and by_key["answers_2s"].status == "breached"
    assert (by_key["answers_2s"].count, by_key["answers_2s"].within) == (100, 97)
    assert by_key["take_over"].status == "met" and by_key["fix_blocking"].status == "met"
    assert by_key["fix_non_blocking"].status == "no data"
    assert by_key["availability"].status == "no data"  # no probe at all: never met
    assert by_key["activation"].status == "no data"
    assert by_key["maintenance_notice"].count == 0
    contract.register_provider("activation", lambda s, a, b, c: (10, 8))
    try:
        activation = {v.key: v for v in contract.verdicts(db, CAL, start, end, now)}["activation"]
    finally:
        contract.unregister_provider("activation")
    assert (activation.measured, activation.status) == (80.0, "breached")


def test_anomalies_by_kind_ente_age_and_the_old_ones_flagged(db):
    seed_demo(db)
    ente = db.scalar(sa.select(Ente).where(Ente.fiscal_code == "77777777777"))
    now = rome(2027, 1, 20, 12, 0)
    for kind, created in (
        ("flow_without_credit", rome(2027, 1, 19, 9)),
        ("flow_without_credit", rome(2027, 1, 4, 9)),
        ("double_payment", rome(2026, 12, 1, 9)),
    ):
        db.add(Anomaly(kind=kind, ente_id=ente.id, detail="x", created_at=created))
    db.add(
        Anomaly(
            kind="double_payment",
            ente_id=ente.id,
            detail="y",
            created_at=rome(2027, 1, 18, 9),
            resolved_at=rome(2027, 1, 19, 9),
        )
    )
    db.flush()
    figure = anomalies.measure(db, BusinessCalendar(), now, limit_working_days=5, trend_days=5)
    assert figure.open == 3 and figure.old == 2
    assert figure.by_kind == {"flow_without_credit": 2, "double_payment": 1}
    assert figure.by_ente == {"77777777777": 3}
    assert figure.by_age["≤ 1"] == 1 and figure.by_age["> 15"] == 1
    # 16-20 January: one opened on the 18th and resolved the 19th, one opened the 19th
    assert figure.trend == [
        ("2027-01-16", 0, 0, 2),
        ("2027-01-17", 0, 0, 2),
        ("2027-01-18", 1, 0, 3),
        ("2027-01-19", 1, 1, 3),
        ("2027-01-20", 0, 0, 3),
    ]
    other = anomalies.measure(db, BusinessCalendar(), now, ente_ids=[-1])
    assert other.open == 0


def test_the_report_has_charts_and_a_pdf(db):
    start, end = rome(2027, 1, 1), rome(2027, 5, 1)
    for n in range(60):
        db.add(
            SlaProbe(
                at=rome(2027, 1, 5, 10, 0) + dt.timedelta(minutes=n),
                target="health",
                ok=n != 7,
                ms=5.0,
            )
        )
    db.flush()
    report = contract_report.build(db, CAL, start, end, rome(2027, 1, 5, 11, 0))
    assert [m.month for m in report.months] == ["2027-01", "2027-02", "2027-03", "2027-04"]
    assert report.availability.down == 1 and report.availability.up == 59
    assert set(report.charts) == {"availability", "answers", "tickets", "anomalies"}
    assert contract_report.svg_data_uri(report.charts["availability"]).startswith(
        "data:image/svg+xml;base64,"
    )
    document = contract_report.pdf(report, "Intermediario <demo>")
    assert document.startswith(b"%PDF") and len(document) > 5000
    assert report.as_dict()["verdicts"][0]["key"] == "availability"


def test_pagopa_kpis_per_station_and_month_from_our_records(db):
    from hub import payments
    from hub.models import BulkLoad, BulkLoadStatus
    from hub.sla import kpi
    from tests.factories import make_position, make_receipt

    seed_demo(db)
    ente = db.scalar(sa.select(Ente).where(Ente.fiscal_code == "77777777777"))
    now = dt.datetime.now(dt.UTC)
    start, end = now - dt.timedelta(days=1), now + dt.timedelta(days=1)
    month = f"{now.astimezone(ROME):%Y-%m}"
    for n, standin in enumerate((False, False, True)):
        option = make_position(db, ente).options[0]
        payments.store_receipt(
            db, make_receipt(option, ente.fiscal_code, receipt_id=f"k-{n}", standin=standin)
        )
    for n, (status, failed) in enumerate(
        ((BulkLoadStatus.DONE, 0), (BulkLoadStatus.DONE, 2), (BulkLoadStatus.RUNNING, 0))
    ):
        db.add(
            BulkLoad(
                public_id=f"00000000-0000-0000-0000-00000000000{n}",
                ente_id=ente.id,
                file_format="csv",
                file_path="/dev/null",
                file_bytes=1,
                sha256="0" * 64,
                cause="test",
                status=status,
                rows_failed=failed,
            )
        )
    db.add(
        SlaMinute(
            minute=now.replace(second=0, microsecond=0),
            operation="paGetPaymentV2",
            source="t",
            count=200,
            over_threshold=6,
            total_seconds=20.0,
            max_seconds=7.0,
            histogram=[150, 20, 10, 10, 2, 2, 0, 3, 3, 0],
        )
    )
    db.flush()
    lines = {(k.kpi, k.station): k for k in kpi.measure(db, start, end)}
    a1, b2 = lines["A.1", "all"], lines["B.2", "all"]
    assert (a1.value, a1.met, a1.month) == (1.5, False, month)  # 3 of 200 over 5 s
    assert (b2.value, b2.met) == (97.0, False)
    b3 = lines["B.3", "77777777777_01"]
    from hub.models import Receipt

    received = db.scalar(sa.select(sa.func.count()).where(Receipt.ente_id == ente.id))
    assert received >= 3  # ours, and the demo's paid notice
    assert (b3.count, b3.value, b3.met) == (received, 1.0, False)
    b8 = lines["B.8", "77777777777_01"]
    assert (b8.count, b8.value, b8.met) == (2, 50.0, False)  # the running load not judged
    assert lines["B.9", "all"].met is None and lines["B.9", "all"].value is None


def test_queued_mail_enqueues_one_delivery_per_transaction(committed_factory):
    from hub import actor_names
    from hub.models import OutboxMessage

    with committed_factory.begin() as session:
        for n in range(3):
            mailer.queue(
                session, purpose="alert", recipient=f"n{n}@example.it", subject="s", body="b"
            )
    with committed_factory() as session:
        names = list(session.scalars(sa.select(OutboxMessage.actor_name)))
        assert names == [actor_names.SLA_SEND_MAIL]
        assert session.scalar(sa.select(sa.func.count()).select_from(SlaMail)) == 3


def test_a_range_cutting_months_measures_each_month_inside_the_range_only(db):
    report = contract_report.build(
        db, CAL, rome(2025, 1, 30), rome(2025, 2, 2), dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    )
    [(jan, jan_slots), (feb, feb_slots)] = [(m.month, m.availability.slots) for m in report.months]
    assert (jan, feb) == ("2025-01", "2025-02")
    assert (jan_slots, feb_slots) == (2 * 24 * 60, 24 * 60)
