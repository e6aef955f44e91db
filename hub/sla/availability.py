"""Availability measured from outside: slots of the probe interval, up, down or unknown.

The probe process (``payhub probe``, or the scheduler's ``sla_probe_station``) calls /health
and the station once per slot (``payhub.sla_probe_seconds``, 60 by default: one slot a minute)
and stores every answer, failures included (``sla_probe``). A period is cut into slots from
its start; each slot is

- **maintenance** if it overlaps a planned maintenance window (``sla_maintenance``, not
  cancelled): excused, as the contract allows, and left out of the count;
- **down** if any probe in it failed (a refused connection, a timeout, HTTP 5xx, PAA_SYSTEM_ERROR);
- **up** if every target probed in the period answered in it;
- **unknown** otherwise: nobody recorded anything (the probe process or the database was
  away). Unknown is never counted as up.

Days pruned (hub.sla.retention) are read from ``sla_probe_day``, a mark per minute and target.
Availability = up / (slots - maintenance). The contract wants 99.40 % over a year and over
each four-month period; a slot still to come is not counted (the period so far).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.models.sla import SlaProbe, SlaProbeDay
from hub.models.sla_contract import SlaMaintenance

TARGET = 99.40  # percent, per year and per four months


@dataclass
class Availability:
    start: str
    end: str
    slot_seconds: float
    slots: int = 0
    up: int = 0
    down: int = 0
    unknown: int = 0
    maintenance: int = 0
    percent: float | None = None  # up / (slots - maintenance)
    # (first slot start, last slot end, what) of each run of down or unknown slots
    gaps: list[dict[str, Any]] = field(default_factory=list)

    @property
    def counted(self) -> int:
        return self.slots - self.maintenance

    def met(self, target: float = TARGET) -> bool | None:
        return None if self.percent is None else self.percent >= target

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "counted": self.counted, "target": TARGET, "met": self.met()}


def maintenance_windows(
    session: Session, start: dt.datetime, end: dt.datetime
) -> list[tuple[dt.datetime, dt.datetime]]:
    rows = session.execute(
        sa.select(SlaMaintenance.starts_at, SlaMaintenance.ends_at).where(
            SlaMaintenance.cancelled_at.is_(None),
            SlaMaintenance.starts_at < end,
            SlaMaintenance.ends_at > start,
        )
    )
    return [(a, b) for a, b in rows]


def measure(
    session: Session,
    start: dt.datetime,
    end: dt.datetime,
    *,
    slot_seconds: float = 60.0,
    now: dt.datetime | None = None,
) -> Availability:
    """The availability of [start, end) (up to ``now`` if that is earlier)."""
    if slot_seconds <= 0:
        raise ValueError("a slot lasts more than 0 seconds")
    until = min(end, now) if now else end
    result = Availability(start.isoformat(), end.isoformat(), slot_seconds)
    if until <= start:
        return result
    step = dt.timedelta(seconds=slot_seconds)
    count = int((until - start) / step)
    seen: dict[int, dict[str, bool]] = defaultdict(dict)  # slot -> target -> all ok so far
    targets: set[str] = set()
    rows = session.execute(
        sa.select(SlaProbe.at, SlaProbe.target, SlaProbe.ok).where(
            SlaProbe.at >= start, SlaProbe.at < start + count * step
        )
    )
    for at, target, ok in [*rows, *pruned_probes(session, start, start + count * step)]:
        slot = int((at - start) / step)
        targets.add(target)
        seen[slot][target] = seen[slot].get(target, True) and bool(ok)
    excused = _excused(maintenance_windows(session, start, until), start, step, count)
    run: tuple[int, str] | None = None  # (first slot, state) of the current gap
    result.slots = count
    for slot in range(count):
        if slot in excused:
            state = "maintenance"
        elif slot not in seen:
            state = "unknown"
        elif not all(seen[slot].values()):
            state = "down"
        elif set(seen[slot]) >= targets:
            state = "up"
        else:
            state = "unknown"
        setattr(result, state, getattr(result, state) + 1)
        if state in ("down", "unknown"):
            if run is None or run[1] != state:
                _close(result, run, slot, start, step)
                run = (slot, state)
        else:
            _close(result, run, slot, start, step)
            run = None
    _close(result, run, count, start, step)
    if result.counted:
        result.percent = round(100 * result.up / result.counted, 4)
    return result


def pruned_probes(
    session: Session, start: dt.datetime, end: dt.datetime
) -> list[tuple[dt.datetime, str, bool]]:
    """The probes of pruned days (hub.sla.retention) in [start, end), one per minute and
    target at the minute's start."""
    found = []
    first, last = start.astimezone(dt.UTC).date(), end.astimezone(dt.UTC).date()
    for day, target, minutes in session.execute(
        sa.select(SlaProbeDay.day, SlaProbeDay.target, SlaProbeDay.minutes).where(
            SlaProbeDay.day >= first, SlaProbeDay.day <= last
        )
    ):
        midnight = dt.datetime.combine(day, dt.time(0), tzinfo=dt.UTC)
        for index, mark in enumerate(minutes):
            at = midnight + dt.timedelta(minutes=index)
            if mark != "." and start <= at < end:
                found.append((at, target, mark == "u"))
    return found


def _excused(
    windows: list[tuple[dt.datetime, dt.datetime]],
    start: dt.datetime,
    step: dt.timedelta,
    count: int,
) -> set[int]:
    slots: set[int] = set()
    for a, b in windows:
        first = max(int((a - start) / step), 0)
        last = min(int((b - start - dt.timedelta(microseconds=1)) / step), count - 1)
        slots.update(range(first, last + 1))
    return slots


def _close(
    result: Availability,
    run: tuple[int, str] | None,
    slot: int,
    start: dt.datetime,
    step: dt.timedelta,
) -> None:
    if run is None:
        return
    first, state = run
    result.gaps.append(
        {
            "from": (start + first * step).isoformat(),
            "to": (start + slot * step).isoformat(),
            "slots": slot - first,
            "state": state,
        }
    )
