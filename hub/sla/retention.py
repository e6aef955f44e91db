"""Pruning the SLA monitor's high-volume rows without changing any figure of a closed period.

Every probe (``sla_probe``, one row per target per slot), every process's answer times per
minute (``sla_minute``) and outcome counts per minute (``sla_outcome``) older than
``payhub.sla_retention_days`` (400 by default: a year and its report month; 0 keeps them) are
compacted, one UTC day per transaction, oldest first (the ``sla_prune`` actor, daily):

- the probes of a day become one ``sla_probe_day`` row per target whose ``minutes`` holds a
  character per minute: ``u`` every probe of that minute ok, ``d`` one failed, ``.`` none.
  Availability (hub.sla.availability) reads them as probes at the minute's start: identical
  figures for slots of whole minutes (the default slot is the 60 s probe interval);
- answer times and outcome counts become one row per hour (UTC) and key with source
  ``pruned``: months and days of Italian time start on a UTC hour, so every monthly figure and
  report range of whole days reads the same sums. An outcome that a planned maintenance window
  excused (hub.sla.kpi) is kept as ``excused <code>`` so the window needs no minutes any more.

Running it twice changes nothing the second time (no raw row is left before the cutoff).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from hub.models.sla import SlaMinute, SlaOutcomeMinute, SlaProbe, SlaProbeDay
from hub.sla.availability import maintenance_windows
from hub.sla.minute_rows import add_minute, add_outcome, add_times

log = structlog.get_logger(__name__)

PRUNED = "pruned"  # the source of compacted rows
EXCUSED = "excused "  # prefix of an outcome a maintenance window excused (hub.sla.kpi)
MINUTES = 24 * 60


def cutoff(now: dt.datetime, days: float) -> dt.datetime:
    """The first instant kept: UTC midnight ``days`` before ``now``."""
    moment = now.astimezone(dt.UTC) - dt.timedelta(days=days)
    return dt.datetime.combine(moment.date(), dt.time(0), tzinfo=dt.UTC)


def prune(factory: Any, now: dt.datetime, days: float) -> dict[str, int]:
    """Compact every raw row before ``cutoff(now, days)``; returns the rows removed per table.
    ``days`` <= 0 keeps everything."""
    removed = {"sla_probe": 0, "sla_minute": 0, "sla_outcome": 0}
    if days <= 0:
        return removed
    until = cutoff(now, days)
    with factory() as session:
        oldest = [
            session.scalar(sa.select(sa.func.min(SlaProbe.at)).where(SlaProbe.at < until)),
            session.scalar(
                sa.select(sa.func.min(SlaMinute.minute)).where(
                    SlaMinute.minute < until, SlaMinute.source != PRUNED
                )
            ),
            session.scalar(
                sa.select(sa.func.min(SlaOutcomeMinute.minute)).where(
                    SlaOutcomeMinute.minute < until, SlaOutcomeMinute.source != PRUNED
                )
            ),
        ]
    first = min((x for x in oldest if x is not None), default=None)
    if first is None:
        return removed
    day = dt.datetime.combine(first.astimezone(dt.UTC).date(), dt.time(0), tzinfo=dt.UTC)
    while day < until:
        with factory() as session, session.begin():
            end = day + dt.timedelta(days=1)
            removed["sla_probe"] += _probes(session, day, end)
            removed["sla_minute"] += _minutes(session, day, end)
            removed["sla_outcome"] += _outcomes(session, day, end)
        day = end
    log.info("sla.pruned", before=until.isoformat(), **removed)
    return removed


def _hour(at: dt.datetime) -> dt.datetime:
    return at.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def _probes(session: Session, day: dt.datetime, end: dt.datetime) -> int:
    where = (SlaProbe.at >= day, SlaProbe.at < end)
    marks: dict[str, list[str]] = defaultdict(lambda: ["."] * MINUTES)
    count = 0
    for at, target, ok in session.execute(
        sa.select(SlaProbe.at, SlaProbe.target, SlaProbe.ok).where(*where)
    ):
        count += 1
        index = int((at - day).total_seconds() // 60)
        minute = marks[target]
        minute[index] = "d" if not ok or minute[index] == "d" else "u"
    if not count:
        return 0
    for target, minute in marks.items():
        row = session.scalars(
            sa.select(SlaProbeDay).where(
                SlaProbeDay.day == day.date(), SlaProbeDay.target == target
            )
        ).one_or_none()
        if row is None:
            session.add(SlaProbeDay(day=day.date(), target=target, minutes="".join(minute)))
            continue
        row.minutes = "".join(_merge_mark(a, b) for a, b in zip(row.minutes, minute, strict=True))
    session.execute(sa.delete(SlaProbe).where(*where))
    return count


def _merge_mark(a: str, b: str) -> str:
    return "d" if "d" in (a, b) else "u" if "u" in (a, b) else "."


def _minutes(session: Session, day: dt.datetime, end: dt.datetime) -> int:
    where = (SlaMinute.minute >= day, SlaMinute.minute < end, SlaMinute.source != PRUNED)
    rows = session.scalars(sa.select(SlaMinute).where(*where)).all()
    sums: dict[tuple[dt.datetime, str], SlaMinute] = {}
    for row in rows:
        hour = _hour(row.minute)
        times = (row.count, row.over_threshold, row.total_seconds, row.max_seconds, row.histogram)
        into = sums.get((hour, row.operation))
        if into is None:
            sums[(hour, row.operation)] = add_minute(session, hour, row.operation, PRUNED, *times)
        else:
            add_times(into, *times)
    if rows:
        session.flush()
        session.execute(sa.delete(SlaMinute).where(*where))
    return len(rows)


def _outcomes(session: Session, day: dt.datetime, end: dt.datetime) -> int:
    where = (
        SlaOutcomeMinute.minute >= day,
        SlaOutcomeMinute.minute < end,
        SlaOutcomeMinute.source != PRUNED,
    )
    windows = maintenance_windows(session, day, end)
    minute = dt.timedelta(minutes=1)
    sums: dict[tuple[dt.datetime, str, str, str, str], int] = defaultdict(int)
    rows = session.execute(
        sa.select(
            SlaOutcomeMinute.minute,
            SlaOutcomeMinute.operation,
            SlaOutcomeMinute.station,
            SlaOutcomeMinute.ente,
            SlaOutcomeMinute.outcome,
            SlaOutcomeMinute.count,
        ).where(*where)
    ).all()
    for at, operation, station, ente, outcome, n in rows:
        if outcome != "OK" and any(a < at + minute and b > at for a, b in windows):
            outcome = (EXCUSED + outcome)[:40]
        sums[(_hour(at), operation, station, ente, outcome)] += n
    for (hour, operation, station, ente, outcome), n in sums.items():
        add_outcome(session, hour, operation, station, ente, outcome, PRUNED, n)
    if rows:
        session.flush()
        session.execute(sa.delete(SlaOutcomeMinute).where(*where))
    return len(rows)
