"""pagoPA's KPIs B.5, B.6 and B.9 from the outcome of every answer, counted per minute."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from webtest import TestApp

from hub.clock import ROME
from hub.models import PaymentService
from hub.models.sla import SlaMinute, SlaOutcomeMinute
from hub.models.sla_contract import SlaMaintenance
from hub.models.tenants import ServiceKind
from hub.seed import seed_demo
from hub.sla import kpi
from sla_monitor.recorder import ResponseRecorder
from tests.sla_monitor.test_sla_recorder import FakeClock
from tests.soap.conftest import build_app
from tests.soap.test_operations import post
from tests.soap.test_station_today import demand_req, service_data

T0 = dt.datetime(2025, 6, 3, 10, 0, tzinfo=dt.UTC)
STATION = "77777777777_01"  # the demo station (hub.seed)
JUNE = (
    dt.datetime(2025, 6, 1, tzinfo=ROME).astimezone(dt.UTC),
    dt.datetime(2025, 7, 1, tzinfo=ROME).astimezone(dt.UTC),
)


def test_receipt_and_demand_outcomes_are_counted_per_station_and_minute_others_not():
    clock = FakeClock(T0)
    recorder = ResponseRecorder(None, flush_seconds=0, clock=clock)
    recorder.record("paSendRTV2", 0.1, "OK", "S1")
    recorder.record("paSendRTV2", 0.1, "OK", "S1")
    recorder.record("paSendRTV2", 0.1, "PAA_SYSTEM_ERROR", "S1")
    recorder.record("paDemandPaymentNotice", 0.1, "OK", "S2")
    recorder.record("paVerifyPaymentNotice", 0.1, "OK", "S1")  # no KPI judges its outcome
    recorder.count("paymentOptions", "ODP-107", ente="77777777777")
    clock.at += dt.timedelta(minutes=1)
    buckets, outcomes = recorder._take()
    minute = int(T0.timestamp()) // 60
    assert outcomes == {
        (minute, "paSendRTV2", "S1", "", "OK"): 2,
        (minute, "paSendRTV2", "S1", "", "PAA_SYSTEM_ERROR"): 1,
        (minute, "paDemandPaymentNotice", "S2", "", "OK"): 1,
        (minute, "paymentOptions", "", "77777777777", "ODP-107"): 1,
    }
    assert sum(b.count for b in buckets.values()) == 5  # payment options: no answer time


@pytest.mark.pg
def test_outcomes_are_written_with_the_minutes_and_kept_when_the_database_is_away(
    committed_factory,
):
    def broken():
        raise RuntimeError("database away")

    clock = FakeClock(T0)
    recorder = ResponseRecorder(broken, flush_seconds=0, clock=clock, source="a:1")
    recorder.record("paSendRT", 0.2, "OK", "S1")
    clock.at += dt.timedelta(minutes=1)
    with pytest.raises(RuntimeError):
        recorder.flush()
    recorder.factory = committed_factory
    clock.at = T0 + dt.timedelta(seconds=30)
    recorder.record("paSendRT", 0.2, "OK", "S1")  # the same minute, after the failure
    recorder.flush(everything=True)
    with committed_factory() as session:
        [row] = session.scalars(sa.select(SlaOutcomeMinute)).all()
        [minute] = session.scalars(sa.select(SlaMinute)).all()
    assert (row.minute, row.operation, row.station, row.outcome, row.count) == (
        T0,
        "paSendRT",
        "S1",
        "OK",
        2,
    )
    assert minute.count == 2


@pytest.mark.pg
def test_the_station_counts_the_outcome_of_a_demand_with_its_fault_code(pg_url, committed_factory):
    with committed_factory() as session:
        seed_demo(session)
        session.commit()
    app = build_app(pg_url, **{"payhub.sla_flush_seconds": "0"})
    try:
        web = TestApp(app)
        post(web, demand_req(service_data(amount="10").encode()))  # KO PAA_SINTASSI_EXTRAXSD
        _buckets, outcomes = app.registry["sla.recorder"]._take(everything=True)
    finally:
        app.close()  # the SOAP fast path's kept connections
        app.registry["db.engine"].dispose()
    assert {(k[1], k[2], k[4]): n for k, n in outcomes.items()} == {
        ("paDemandPaymentNotice", STATION, "PAA_SINTASSI_EXTRAXSD"): 1
    }


@pytest.mark.pg
def test_the_payment_options_service_counts_its_answers_per_ente(pg_url, committed_factory):
    with committed_factory() as session:
        seed_demo(session)
        session.commit()
    app = build_app(pg_url, **{"payhub.sla_flush_seconds": "0"})
    try:
        web = TestApp(app)
        url = "/odp/v1/payment-options/organizations/77777777777/notices/123"
        web.post(url, status=401)  # no key: counted, pagoPA's call failed
        _buckets, outcomes = app.registry["sla.recorder"]._take(everything=True)
    finally:
        app.close()  # the SOAP fast path's kept connections
        app.registry["db.engine"].dispose()
    assert {(k[1], k[3], k[4]): n for k, n in outcomes.items()} == {
        ("paymentOptions", "77777777777", "401"): 1
    }


def _outcome(db, at, operation, outcome, count, station="", ente=""):
    db.add(
        SlaOutcomeMinute(
            minute=at,
            operation=operation,
            station=station,
            ente=ente,
            outcome=outcome,
            source="t",
            count=count,
        )
    )


def _lines(db):
    db.flush()
    return {(x.kpi, x.station, x.month): x for x in kpi.measure(db, *JUNE)}


def test_b9_is_the_share_of_receipts_answered_ok_per_station_and_for_all(db):
    seed_demo(db)
    _outcome(db, T0, "paSendRTV2", "OK", 90, STATION)
    _outcome(db, T0, "paSendRTV2", "PAA_SYSTEM_ERROR", 10, STATION)
    _outcome(db, T0, "paSendRT", "OK", 100, "OTHER_01")
    lines = _lines(db)
    mine, other, every = (lines["B.9", s, "2025-06"] for s in (STATION, "OTHER_01", "all"))
    assert (mine.count, mine.value, mine.met) == (100, 90.0, False)
    assert (other.count, other.value, other.met) == (100, 100.0, True)
    assert (every.count, every.value, every.met) == (200, 95.0, True)  # ≥ 95 %: met


def test_b9_does_not_hold_ko_answers_of_a_planned_maintenance_against_the_station(db):
    seed_demo(db)
    db.add(
        SlaMaintenance(
            starts_at=T0 - dt.timedelta(minutes=30),
            ends_at=T0 + dt.timedelta(minutes=30),
            affects="the station",
            ente_codes=[],
            created_by="test",
        )
    )
    _outcome(db, T0, "paSendRTV2", "PAA_SYSTEM_ERROR", 10, STATION)
    _outcome(db, T0 + dt.timedelta(hours=2), "paSendRTV2", "OK", 10, STATION)
    b9 = _lines(db)["B.9", STATION, "2025-06"]
    assert (b9.count, b9.value, b9.met) == (20, 100.0, True)


def test_b5_judges_stations_whose_enti_offer_spontaneous_services_by_their_answers(db):
    seed_demo(db)
    assert db.scalar(
        sa.select(sa.func.count()).where(PaymentService.kind == ServiceKind.SPONTANEOUS)
    )
    _outcome(db, T0, "paDemandPaymentNotice", "OK", 150, STATION)
    _outcome(db, T0, "paDemandPaymentNotice", "PAA_SINTASSI_EXTRAXSD", 49, STATION)
    _outcome(db, T0, "paDemandPaymentNotice", "PAA_SYSTEM_ERROR", 1, STATION)
    lines = _lines(db)
    b5, every = lines["B.5", STATION, "2025-06"], lines["B.5", "all", "2025-06"]
    # a refused request is the service working; a system error is not
    assert (b5.count, b5.value, b5.met) == (200, 99.5, True)
    assert (every.count, every.value, every.met) == (1, 100.0, True)


def test_b5_and_b6_without_answers_are_no_data_and_system_errors_breach(db):
    seed_demo(db)
    _outcome(db, T0, "paymentOptions", "OK", 90, ente="77777777777")
    _outcome(db, T0, "paymentOptions", "ODP-103", 10, ente="77777777777")
    lines = _lines(db)
    b5 = lines["B.5", STATION, "2025-06"]
    assert (b5.count, b5.value, b5.met) == (0, None, None)
    assert lines["B.5", "all", "2025-06"].met is None
    b6, every = lines["B.6", STATION, "2025-06"], lines["B.6", "all", "2025-06"]
    assert (b6.count, b6.value, b6.met) == (100, 90.0, False)  # the Ente's answers count
    assert (every.value, every.met) == (0.0, False)


def test_a_system_error_after_the_view_counted_ok_replaces_that_ok():
    from pyramid import testing

    from soap.dispatch import system_error_view

    clock = FakeClock(T0)
    recorder = ResponseRecorder(None, flush_seconds=0, clock=clock)
    recorder.record("paSendRTV2", 0.1, "OK", "S1")  # the view answered OK ...
    request = testing.DummyRequest()
    request.registry = {"sla.recorder": recorder}
    request.sla_key, request.sla_counted = ("paSendRTV2", "S1"), "OK"
    system_error_view(RuntimeError("commit failed"), request)  # ... and the commit failed
    clock.at += dt.timedelta(minutes=1)
    outcomes = {k[4]: n for k, n in recorder._take()[1].items()}
    assert outcomes == {"OK": 0, "PAA_SYSTEM_ERROR": 1}


@pytest.mark.pg
def test_an_error_below_the_view_is_counted_as_the_system_error_the_node_gets(
    pg_url, committed_factory, monkeypatch
):
    from soap import dispatch

    def broken(call):
        raise RuntimeError("bug")

    monkeypatch.setitem(dispatch.HANDLERS, "paDemandPaymentNotice", broken)
    with committed_factory() as session:
        seed_demo(session)
        session.commit()
    app = build_app(pg_url, **{"payhub.sla_flush_seconds": "0"})
    try:
        answer = post(TestApp(app), demand_req(service_data().encode()))
        _buckets, outcomes = app.registry["sla.recorder"]._take(everything=True)
    finally:
        app.close()  # the SOAP fast path's kept connections
        app.registry["db.engine"].dispose()
    assert b"PAA_SYSTEM_ERROR" in answer.body
    assert {(k[1], k[2], k[4]): n for k, n in outcomes.items()} == {
        ("paDemandPaymentNotice", STATION, "PAA_SYSTEM_ERROR"): 1
    }
