"""Pruning the SLA monitor's high-volume rows: compacted, and no figure of a closed period
changes."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from apscheduler.schedulers.background import BackgroundScheduler

from actors.scheduler import add_sla_jobs
from hub import actor_names
from hub.calendar import BusinessCalendar
from hub.config import Config
from hub.models.sla import SlaMinute, SlaOutcomeMinute, SlaProbe, SlaProbeDay
from hub.models.sla_contract import SlaMaintenance
from hub.seed import seed_demo
from hub.sla import contract_report, retention
from sla_monitor import report as sla_report
from tests.sla_monitor.test_sla_contract import rome

CAL = BusinessCalendar.from_settings({})
START, END = rome(2025, 1, 6), rome(2025, 1, 9)  # a closed range of three days
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
STATION = "77777777777_01"


def _fill(session) -> None:
    seed_demo(session)
    base = rome(2025, 1, 6, 10, 0)
    probes = []
    for n in range(24 * 60):  # a day of probes from 10:00, one a minute per target
        at = base + dt.timedelta(minutes=n, seconds=7)
        if 300 <= n < 304:
            continue  # the probe process away: unknown
        for target in ("verify", "health"):
            probes.append(SlaProbe(at=at, target=target, ok=n != 500, ms=5.0))
    session.add_all(probes)
    session.add(
        SlaMaintenance(
            starts_at=base + dt.timedelta(hours=2),
            ends_at=base + dt.timedelta(hours=2, minutes=30),
            affects="the station",
            ente_codes=[],
            created_by="test",
            created_at=base - dt.timedelta(days=5),
        )
    )
    for n in range(0, 24 * 60, 7):
        at = base + dt.timedelta(minutes=n)
        for source in ("a:1", "b:2"):
            session.add(
                SlaMinute(
                    minute=at,
                    operation="paGetPaymentV2",
                    source=source,
                    count=10,
                    over_threshold=n % 3,
                    total_seconds=1.5,
                    max_seconds=0.1 * (n % 40),
                    histogram=[5, 2, 1, 0, 0, 0, n % 3, 1, 0, 1],
                )
            )
            for outcome, count in (("OK", 9), ("PAA_SYSTEM_ERROR", 1)):
                for operation in ("paSendRTV2", "paDemandPaymentNotice"):
                    session.add(
                        SlaOutcomeMinute(
                            minute=at,
                            operation=operation,
                            station=STATION,
                            ente="",
                            outcome=outcome,
                            source=source,
                            count=count,
                        )
                    )
    session.commit()


def _figures(factory) -> dict:
    with factory() as session:
        report = contract_report.build(session, CAL, START, END, NOW).as_dict()
    report.pop("anomalies", None)  # measured at ``now``, from other tables
    with factory() as session:  # the CLI's report (payhub sla report) too
        report["cli"] = sla_report.build(session, START, END, NOW).as_dict()
    return report


def _count(factory, model) -> int:
    with factory() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(model))


@pytest.mark.pg
def test_pruning_compacts_old_rows_and_the_report_of_a_closed_range_reads_the_same(
    committed_factory,
):
    with committed_factory() as session:
        _fill(session)
    before = _figures(committed_factory)
    assert before["availability"]["down"] == 1 and before["availability"]["unknown"] > 0
    assert any(k["kpi"] == "B.9" and k["count"] for k in before["kpis"])
    removed = retention.prune(committed_factory, NOW, 400)
    assert removed["sla_probe"] == 2 * (24 * 60 - 4)
    assert _count(committed_factory, SlaProbe) == 0
    assert _count(committed_factory, SlaProbeDay) == 4  # two UTC days, two targets
    with committed_factory() as session:
        sources = set(session.scalars(sa.select(SlaMinute.source)))
        hours = session.scalar(sa.select(sa.func.count()).select_from(SlaOutcomeMinute))
    assert sources == {retention.PRUNED} and hours < removed["sla_outcome"] / 10
    assert _figures(committed_factory) == before
    # a second run finds nothing left to compact and changes nothing
    assert retention.prune(committed_factory, NOW, 400) == {
        "sla_probe": 0,
        "sla_minute": 0,
        "sla_outcome": 0,
    }
    assert _figures(committed_factory) == before


@pytest.mark.pg
def test_rows_younger_than_the_retention_are_kept_and_zero_keeps_everything(
    committed_factory,
):
    with committed_factory() as session:
        _fill(session)
    assert retention.prune(committed_factory, NOW, 0)["sla_probe"] == 0
    assert retention.prune(committed_factory, rome(2025, 1, 20), 400)["sla_probe"] == 0
    assert _count(committed_factory, SlaProbe) == 2 * (24 * 60 - 4)


def test_the_cutoff_is_the_utc_midnight_of_the_retention_days_ago():
    now = dt.datetime(2026, 6, 1, 1, 30, tzinfo=dt.UTC)
    assert retention.cutoff(now, 400) == dt.datetime(2025, 4, 27, tzinfo=dt.UTC)


def test_the_scheduler_prunes_daily_unless_the_retention_is_zero():
    def enqueue(name):
        return lambda: None

    jobs = BackgroundScheduler()
    add_sla_jobs(jobs, enqueue, Config())
    assert jobs.get_job(actor_names.SLA_PRUNE) is not None
    jobs = BackgroundScheduler()
    add_sla_jobs(jobs, enqueue, Config(sla_retention_days=0))
    assert jobs.get_job(actor_names.SLA_PRUNE) is None
