"""The contract's periods: four months of Italian time (``2026-Q1`` January–April, ``2026-Q2``
May–August, ``2026-Q3`` September–December; Q for quadrimestre, not quarter)."""

from __future__ import annotations

import datetime as dt
import re

from hub.clock import ROME

_PERIOD = re.compile(r"^(\d{4})-Q([123])$")


def period_bounds(period: str, tz: dt.tzinfo = ROME) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a quadrimestre such as ``2026-Q3``; ValueError otherwise."""
    match = _PERIOD.match(period.strip().upper())
    if not match:
        raise ValueError(f"{period!r}: a period is YYYY-Q1, YYYY-Q2 or YYYY-Q3 (4 months each)")
    year, n = int(match[1]), int(match[2])
    start = dt.date(year, 4 * (n - 1) + 1, 1)
    end = dt.date(year + 1, 1, 1) if n == 3 else dt.date(year, 4 * n + 1, 1)
    return day_start(start, tz), day_start(end, tz)


def day_start(day: dt.date, tz: dt.tzinfo = ROME) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=tz).astimezone(dt.UTC)


def current(now: dt.datetime) -> str:
    """The period ``now`` is in."""
    local = now.astimezone(ROME)
    return f"{local.year}-Q{(local.month - 1) // 4 + 1}"
