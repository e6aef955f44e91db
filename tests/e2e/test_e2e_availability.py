"""Availability measured from outside (issue 19): a real ``payhub serve`` and a separate
``payhub probe`` process, with a probe interval of two seconds (so a slot is two seconds and the
test lasts seconds, not minutes). The web process is killed for a few seconds: the probe
records the failures and the availability of the span is below 100 %, the gap where the web
was away; a maintenance window over that gap excuses it. The probe process itself stopped
leaves slots unknown, never up."""

from __future__ import annotations

import datetime as dt
import signal
import sys
import time

import pytest
import sqlalchemy as sa

from hub.models.sla import SlaProbe
from hub.models.sla_contract import SlaMaintenance
from hub.sla import availability
from tests.e2e.conftest import Proc, Stack, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.pg, pytest.mark.slow]

SLOT = 2.0  # seconds: the probe interval of the test (60 in production)


def second(moment: dt.datetime) -> dt.datetime:
    return moment.replace(microsecond=0)


@pytest.fixture
def web_and_probe(e2e_db, tmp_path):
    stack = Stack(e2e_db, tmp_path)
    probe = Proc(
        "payhub-probe",
        [
            sys.executable,
            "-m",
            "payhub.cli",
            "-c",
            str(tmp_path / "e2e.ini"),
            "probe",
            "--interval",
            str(SLOT),
            "--health-url",
            f"{stack.payhub}/health",
            "--station-url",
            stack.soap_url,
        ],
        stack.web.env,
        tmp_path,
    )
    try:
        stack.start_web()
        yield stack, probe
    finally:
        probe.kill(signal.SIGTERM)
        stack.stop()


def ok_probes(stack: Stack, since: dt.datetime) -> int:
    with stack.sessions() as session:
        return session.scalar(
            sa.select(sa.func.count()).where(SlaProbe.at >= since, SlaProbe.ok.is_(True))
        )


def first_probe(stack: Stack, since: dt.datetime) -> dt.datetime:
    """The first second the probe process recorded (it takes a moment to start)."""
    with stack.sessions() as session:
        return second(
            session.scalar(sa.select(sa.func.min(SlaProbe.at)).where(SlaProbe.at >= since))
        )


def test_the_web_process_stopped_makes_availability_fall_and_maintenance_excuses_it(
    web_and_probe,
):
    stack, probe = web_and_probe
    start = second(dt.datetime.now(dt.UTC)) + dt.timedelta(seconds=1)
    probe.start()
    wait_for(lambda: ok_probes(stack, start) >= 6, 40, f"probes ok\n{probe.tail()}")
    start = first_probe(stack, start)
    killed = dt.datetime.now(dt.UTC)
    stack.web.kill(signal.SIGKILL)  # the web process is gone: nobody inside can record it
    time.sleep(8)
    stack.start_web()
    back = dt.datetime.now(dt.UTC)
    since_back = second(back) + dt.timedelta(seconds=1)
    wait_for(lambda: ok_probes(stack, since_back) >= 6, 40, f"probes ok again\n{probe.tail()}")
    end = second(dt.datetime.now(dt.UTC))
    probe.kill(signal.SIGTERM)

    with stack.sessions() as session:
        failures = session.scalars(
            sa.select(SlaProbe).where(SlaProbe.at >= start, SlaProbe.ok.is_(False))
        ).all()
        measured = availability.measure(session, start, end, slot_seconds=SLOT)
    # failures were recorded, for both targets, and they are errors of connection
    assert {p.target for p in failures} == {"health", "verify"}
    assert all(killed - dt.timedelta(seconds=1) <= p.at <= back for p in failures)
    # at least the 8 seconds (4 slots) the web process was away are down; the rest is up
    assert measured.down >= 4
    assert measured.percent is not None and measured.percent < 100
    assert measured.up + measured.down + measured.unknown == measured.slots
    assert measured.percent == round(100 * measured.up / measured.slots, 4)
    [gap] = [g for g in measured.gaps if g["state"] == "down"]
    assert dt.datetime.fromisoformat(gap["from"]) <= killed + dt.timedelta(
        seconds=SLOT + 1
    )  # the first probe after the kill
    assert dt.datetime.fromisoformat(gap["to"]) >= killed + dt.timedelta(seconds=8)
    assert measured.met() is False  # far below 99.40 %

    # planned maintenance over the outage: the same slots are excused, not counted
    with stack.sessions.begin() as session:
        session.add(
            SlaMaintenance(
                starts_at=killed - dt.timedelta(seconds=1),
                ends_at=back + dt.timedelta(seconds=2),
                affects="the station and the citizens' pages",
                ente_codes=[],
                created_by="ops:test",
            )
        )
    with stack.sessions() as session:
        excused = availability.measure(session, start, end, slot_seconds=SLOT)
    assert excused.down == 0 and excused.maintenance >= measured.down
    assert excused.slots == measured.slots
    assert excused.percent == round(100 * excused.up / (excused.slots - excused.maintenance), 4)
    assert excused.percent > measured.percent
    # what is left is up, or unknown (a probe late on a busy machine), never down
    assert excused.up + excused.unknown + excused.maintenance == excused.slots


def test_minutes_without_any_probe_are_unknown_not_up(web_and_probe):
    stack, probe = web_and_probe
    start = second(dt.datetime.now(dt.UTC)) + dt.timedelta(seconds=1)
    probe.start()
    wait_for(lambda: ok_probes(stack, start) >= 6, 40, f"probes ok\n{probe.tail()}")
    start = first_probe(stack, start)
    killed = dt.datetime.now(dt.UTC)
    probe.kill(signal.SIGKILL)  # the probe itself is away: nobody records anything
    # 10 seconds away hold at least 4 whole 2-second slots wherever the kill falls in a slot
    # (8 seconds guarantee only 3)
    time.sleep(10)
    probe.start()
    restarted = second(dt.datetime.now(dt.UTC)) + dt.timedelta(seconds=1)
    wait_for(lambda: ok_probes(stack, restarted) >= 6, 40, f"probes ok\n{probe.tail()}")
    end = second(dt.datetime.now(dt.UTC))
    probe.kill(signal.SIGTERM)
    with stack.sessions() as session:
        measured = availability.measure(session, start, end, slot_seconds=SLOT)
    assert measured.down == 0  # the station never failed
    assert measured.unknown >= 4  # but those 10 seconds were not seen
    assert measured.percent is not None and measured.percent < 100
    longest = max(measured.gaps, key=lambda g: g["slots"])
    assert longest["state"] == "unknown" and longest["slots"] >= 4
    assert dt.datetime.fromisoformat(longest["from"]) <= killed + dt.timedelta(seconds=SLOT)
