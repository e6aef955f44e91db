"""Availability in slots: up, down, unknown, maintenance (hub.sla.availability)."""

from __future__ import annotations

import datetime as dt

import pytest

from hub.models.sla import SlaProbe
from hub.models.sla_contract import SlaMaintenance
from hub.sla import availability

pytestmark = pytest.mark.pg

T0 = dt.datetime(2026, 5, 4, 10, 0, tzinfo=dt.UTC)


def minute(n: int, seconds: int = 5) -> dt.datetime:
    return T0 + dt.timedelta(minutes=n, seconds=seconds)


def probe(db, n: int, ok: bool = True, targets=("health", "verify")) -> None:
    for target in targets:
        db.add(SlaProbe(at=minute(n), target=target, ok=ok, ms=10.0, error=None if ok else "x"))


def test_every_minute_is_up_down_unknown_or_maintenance(db):
    for n in range(10):
        if n in (3, 4):
            probe(db, n, ok=False)
        elif n == 6:
            probe(db, n, targets=("health",))  # the station's answer missing: not seen
        elif n not in (7, 8):
            probe(db, n)
    db.flush()
    measured = availability.measure(db, T0, T0 + dt.timedelta(minutes=10))
    assert (measured.up, measured.down, measured.unknown, measured.maintenance) == (5, 2, 3, 0)
    assert measured.percent == 50.0 and measured.met() is False
    assert [(g["state"], g["slots"]) for g in measured.gaps] == [
        ("down", 2),
        ("unknown", 3),
    ]


def test_a_failure_spoils_its_minute_even_when_another_probe_was_ok(db):
    probe(db, 0)
    db.add(SlaProbe(at=minute(0, 40), target="health", ok=False, ms=5.0, error="x"))
    db.flush()
    assert availability.measure(db, T0, T0 + dt.timedelta(minutes=1)).down == 1


def test_maintenance_excuses_the_minutes_it_overlaps_and_cancelled_ones_do_not(db):
    for n in range(10):
        probe(db, n, ok=n not in (2, 3, 4))
    db.add(
        SlaMaintenance(
            starts_at=T0 + dt.timedelta(minutes=2, seconds=30),
            ends_at=T0 + dt.timedelta(minutes=5),
            affects="all",
            ente_codes=[],
            created_by="ops:a",
        )
    )
    db.add(
        SlaMaintenance(
            starts_at=T0 + dt.timedelta(minutes=8),
            ends_at=T0 + dt.timedelta(minutes=9),
            affects="all",
            ente_codes=[],
            created_by="ops:a",
            cancelled_at=T0,
        )
    )
    db.flush()
    measured = availability.measure(db, T0, T0 + dt.timedelta(minutes=10))
    # minute 2 (from 10:02:30) to minute 4 excused; 10:05 is the window's end, not in it
    assert (measured.up, measured.down, measured.maintenance) == (7, 0, 3)
    assert measured.percent == 100.0 and measured.met() is True


def test_only_the_period_so_far_is_counted(db):
    probe(db, 0)
    db.flush()
    measured = availability.measure(
        db, T0, T0 + dt.timedelta(days=1), now=T0 + dt.timedelta(minutes=1)
    )
    assert measured.slots == 1 and measured.percent == 100.0
    empty = availability.measure(db, T0, T0 + dt.timedelta(days=1), now=T0)
    assert empty.slots == 0 and empty.percent is None and empty.met() is None
