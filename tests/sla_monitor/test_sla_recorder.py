"""Answer times per minute, written outside the request, and breaches of 98 % within 2 s."""

from __future__ import annotations

import datetime as dt
import os

import pytest
import sqlalchemy as sa
from structlog.testing import capture_logs
from webtest import TestApp

from hub.models.sla import HISTOGRAM_BOUNDS, SlaBreach, SlaMinute
from hub.seed import seed_demo
from sla_monitor import breaches
from sla_monitor.recorder import ResponseRecorder
from tests.soap.conftest import build_app
from tests.soap.test_operations import get_payment_req, post, verify_req

T0 = dt.datetime(2025, 6, 3, 10, 0, tzinfo=dt.UTC)  # the first slow minute


class FakeClock:
    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at.timestamp()


def test_a_bucket_counts_answers_over_two_seconds_and_fills_its_histogram():
    clock = FakeClock(T0)
    recorder = ResponseRecorder(None, flush_seconds=0, clock=clock)
    for seconds in (0.01, 0.02, 2.0, 2.5, 30.0):
        recorder.record("paVerifyPaymentNotice", seconds)
    assert recorder.take() == {}  # the minute is not over yet
    clock.at += dt.timedelta(minutes=1)
    [(key, bucket)] = recorder.take().items()
    assert key == (int(T0.timestamp()) // 60, "paVerifyPaymentNotice")
    assert (bucket.count, bucket.over, bucket.max) == (5, 2, 30.0)  # exactly 2 s is within
    assert bucket.histogram[0] == 2 and bucket.histogram[HISTOGRAM_BOUNDS.index(2.0)] == 1
    assert bucket.histogram[-1] == 1 and sum(bucket.histogram) == 5


@pytest.mark.pg
def test_finished_minutes_are_written_and_a_late_answer_is_added_to_its_row(committed_factory):
    clock = FakeClock(T0 + dt.timedelta(seconds=59))
    recorder = ResponseRecorder(committed_factory, flush_seconds=0, clock=clock, source="a:1")
    recorder.record("paGetPaymentV2", 0.1)
    clock.at = T0 + dt.timedelta(minutes=1)
    assert recorder.flush() == 1
    recorder._buckets.clear()
    clock.at = T0 + dt.timedelta(seconds=30)  # an answer whose clock was read before the turn
    recorder.record("paGetPaymentV2", 3.0)
    assert recorder.flush(everything=True) == 1
    with committed_factory() as session:
        [row] = session.scalars(sa.select(SlaMinute)).all()
    assert (row.minute, row.count, row.over_threshold, row.max_seconds) == (T0, 2, 1, 3.0)
    assert row.source == "a:1" and sum(row.histogram) == 2


@pytest.mark.pg
def test_a_failed_write_keeps_the_counts_for_the_next_flush(committed_factory):
    def broken():
        raise RuntimeError("database away")

    clock = FakeClock(T0)
    recorder = ResponseRecorder(broken, flush_seconds=0, clock=clock)
    recorder.record("paSendRTV2", 0.2)
    clock.at += dt.timedelta(minutes=2)
    with pytest.raises(RuntimeError):
        recorder.flush()
    recorder.factory = committed_factory
    assert recorder.flush() == 1


@pytest.fixture
def soap_app(pg_url, committed_factory):
    with committed_factory() as session:
        seed_demo(session)
        session.commit()
    app = build_app(pg_url, **{"payhub.sla_flush_seconds": "0"})
    yield app
    app.close()  # the SOAP fast path's kept connections
    app.registry["db.engine"].dispose()


@pytest.mark.pg
def test_the_station_records_every_answer_fast_path_and_pyramid_alike(soap_app):
    web = TestApp(soap_app)
    post(web, verify_req())  # answered by the fast path
    post(web, verify_req(notice="399999999999999903"))  # a KO is an answer too
    post(web, get_payment_req())  # answered by Pyramid
    recorder = soap_app.registry["sla.recorder"]
    counts = {op: b.count for (_m, op), b in recorder.take(everything=True).items()}
    assert counts == {"paVerifyPaymentNotice": 2, "paGetPaymentV2": 1}


@pytest.mark.pg
def test_closing_the_apps_database_writes_what_was_counted(pg_url, committed_factory):
    app = build_app(pg_url, **{"payhub.sla_flush_seconds": "0"})
    app.registry["sla.recorder"].record("paSendRTV2", 0.3)  # the current minute, unfinished
    app.close()  # the SOAP fast path's kept connections
    app.registry["db.engine"].dispose()
    with committed_factory() as session:
        [row] = session.scalars(sa.select(SlaMinute)).all()
    assert (row.operation, row.count) == ("paSendRTV2", 1)
    assert app.registry["db.engine"].pool.checkedin() == 0  # no connection left behind


def test_a_forked_process_counts_under_its_own_name_from_zero():
    recorder = ResponseRecorder(None, flush_seconds=0, source="parent:1")
    recorder.record("paVerifyPaymentNotice", 0.01)
    recorder.after_fork()
    assert recorder.take(everything=True) == {}
    assert recorder.source.endswith(f":{os.getpid()}")


@pytest.mark.pg
def test_without_the_recorder_the_station_answers_as_before(pg_url, committed_factory):
    with committed_factory() as session:
        seed_demo(session)
        session.commit()
    app = build_app(pg_url, **{"payhub.sla_recorder": "false"})
    try:
        assert b"<outcome>OK</outcome>" in post(TestApp(app), verify_req()).body
        assert "sla.recorder" not in app.registry
    finally:
        app.close()  # the SOAP fast path's kept connections
        app.registry["db.engine"].dispose()


# -- breaches -----------------------------------------------------------------------------
POLICY = breaches.BreachPolicy(min_requests=20)


def traffic(factory, minute: dt.datetime, fast: int, slow: int, op: str = "paVerify") -> None:
    """``fast`` answers of 50 ms and ``slow`` of 3 s in ``minute``, recorded and written."""
    clock = FakeClock(minute + dt.timedelta(seconds=10))
    recorder = ResponseRecorder(factory, flush_seconds=0, clock=clock, source="web:1")
    for _ in range(fast):
        recorder.record(op, 0.05)
    for _ in range(slow):
        recorder.record(op, 3.0)
    recorder.flush(everything=True)


def judge(factory, at: dt.datetime) -> list[SlaBreach]:
    with factory() as session, session.begin():
        breaches.evaluate(session, at, POLICY)
        return list(session.scalars(sa.select(SlaBreach).order_by(SlaBreach.id)))


@pytest.mark.pg
def test_a_slow_minute_opens_one_breach_within_five_minutes_and_recovery_closes_it(
    committed_factory,
):
    for m in range(-10, 0):
        traffic(committed_factory, T0 + dt.timedelta(minutes=m), fast=100, slow=0)
    traffic(committed_factory, T0, fast=80, slow=20)  # the slowness starts: 80 % in 2 s
    for m in range(1, 4):
        traffic(committed_factory, T0 + dt.timedelta(minutes=m), fast=90, slow=10)
    opened_at = None
    with capture_logs() as logs:
        for m in range(0, 6):  # the actor's runs, 20 s past each minute
            found = judge(committed_factory, T0 + dt.timedelta(minutes=m, seconds=20))
            if found and opened_at is None:
                opened_at = found[0].opened_at
    assert opened_at is not None and opened_at - T0 <= dt.timedelta(minutes=5)
    assert opened_at - T0 <= dt.timedelta(minutes=2)  # a severe minute is seen at once
    [warning] = [e for e in logs if e["event"] == "sla.breach_opened"]
    assert warning["log_level"] == "warning" and warning["operation"] == "paVerify"
    [breach] = found
    assert breach.closed_at is None and breach.worst_share < 0.98

    for m in range(4, 12):  # recovered: the window slides past the slow minutes
        traffic(committed_factory, T0 + dt.timedelta(minutes=m), fast=100, slow=0)
    closed = None
    for m in range(6, 13):
        [breach] = judge(committed_factory, T0 + dt.timedelta(minutes=m, seconds=20))
        closed = closed or breach.closed_at
    # 10:08:20 judges 10:03-10:08: 490 of 500 within 2 s, back at 98 %
    assert closed == T0 + dt.timedelta(minutes=8, seconds=20)
    # opened at 10:01:20 on 09:56-10:01: 480 of 500; the worst, judged at 10:05:20 before
    # 10:04 had any answers, was 10:00-10:04: 350 of 400
    assert breach.share == pytest.approx(0.96) and breach.worst_share == pytest.approx(0.875)
    assert breach.window_end == T0 + dt.timedelta(minutes=1)


@pytest.mark.pg
def test_too_few_answers_are_not_judged(committed_factory):
    for m in range(5):
        traffic(committed_factory, T0 + dt.timedelta(minutes=m), fast=1, slow=2)
    assert judge(committed_factory, T0 + dt.timedelta(minutes=5, seconds=20)) == []


@pytest.mark.pg
def test_each_operation_is_judged_on_its_own(committed_factory):
    for m in range(5):
        traffic(
            committed_factory,
            T0 + dt.timedelta(minutes=m),
            fast=100,
            slow=0,
            op="paVerifyPaymentNotice",
        )
        traffic(committed_factory, T0 + dt.timedelta(minutes=m), fast=10, slow=10, op="paSendRTV2")
    at = T0 + dt.timedelta(minutes=5, seconds=20)
    [breach] = judge(committed_factory, at)
    assert breach.operation == "paSendRTV2" and breach.share == 0.5
    assert [b.id for b in judge(committed_factory, at)] == [breach.id]  # the same run again


@pytest.mark.pg
def test_the_actor_judges_with_the_brokers_settings(committed_factory, monkeypatch):
    import dramatiq

    from actors import broker as broker_mod
    from sla_monitor import actors as sla_actors

    broker = broker_mod.setup(
        {
            "payhub.broker": "stub",
            "payhub.embedded_worker": "false",
            "payhub.sla_min_requests": "5",
        },
        committed_factory,
    )
    now = dt.datetime.now(dt.UTC).replace(second=30, microsecond=0)
    monkeypatch.setattr(sla_actors, "utcnow", lambda: now)
    traffic(committed_factory, now - dt.timedelta(minutes=2), fast=3, slow=3)
    worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=1)
    worker.start()
    try:
        sla_actors.sla_evaluate_breaches.send()
        broker.join("default")
        worker.join()
    finally:
        worker.stop()
    with committed_factory() as session:
        [breach] = session.scalars(sa.select(SlaBreach)).all()
    assert breach.requests == 6 and breach.share == 0.5


def test_the_scheduler_judges_every_minute_and_probes_only_when_told_where():
    from apscheduler.schedulers.background import BackgroundScheduler

    from actors.scheduler import add_jobs

    def jobs(settings):
        return {j.id: j for j in add_jobs(BackgroundScheduler(), None, None, settings).get_jobs()}

    assert "sla_evaluate_breaches" in jobs({})
    assert "sla_probe_station" not in jobs({})
    probing = jobs(
        {
            "payhub.sla_probe_notice": "1 2 3 4",
            "payhub.sla_probe_url": "http://x/",
            "payhub.sla_probe_seconds": "30",
        }
    )
    assert probing["sla_probe_station"].trigger.interval == dt.timedelta(seconds=30)
    assert "sla_probe_station" not in jobs(
        {"payhub.sla_probe_health_url": "http://x/health", "payhub.sla_probe_seconds": "0"}
    )
