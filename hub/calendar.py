"""The help-desk calendar: business hours, Italian public holidays, and SLA clocks that pause.

Pure: no I/O, no clock of its own. A clock runs only inside business hours (default Monday to
Friday, 08:30–17:30 Europe/Rome) on days that are not holidays: the national holidays of
law 260/1949 as amended (Easter Monday computed; 4 October, San Francesco, from 2026 by
law 151/2025), plus local holidays from settings (the patron saint of the city).

Durations are real elapsed time: business hours are wall-clock hours in the calendar's zone,
converted to instants, so a day on which summer time starts or ends still has its 9 hours
(08:30–17:30 never spans the 02:00–03:00 change).

Settings (all optional):
  payhub.sla_timezone               default Europe/Rome
  payhub.sla_business_hours         default 08:30-17:30
  payhub.sla_business_days          default mon tue wed thu fri
  payhub.sla_local_holidays         MM-DD (every year) or YYYY-MM-DD (once), space-separated
  payhub.sla_san_francesco_from     first year 4 October is a holiday (default 2026; 0 = never)
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from hub.config import Config, as_config

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# (month, day) of the fixed national holidays; Easter Sunday and Monday are added per year
FIXED_HOLIDAYS = frozenset(
    {(1, 1), (1, 6), (4, 25), (5, 1), (6, 2), (8, 15), (11, 1), (12, 8), (12, 25), (12, 26)}
)
SAN_FRANCESCO = (10, 4)
_MAX_DAYS = 3 * 366  # a deadline further than this is a configuration error, not a ticket


def easter_sunday(year: int) -> dt.date:
    """Gregorian Easter Sunday (the anonymous Meeus/Jones/Butcher algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    leap = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * leap) // 451
    month, day = divmod(h + leap - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


@lru_cache(maxsize=64)
def national_holidays(year: int, san_francesco_from: int = 2026) -> frozenset[dt.date]:
    """The Italian national public holidays of ``year`` that fall on fixed dates or Easter."""
    days = {dt.date(year, m, d) for m, d in FIXED_HOLIDAYS}
    easter = easter_sunday(year)
    days |= {easter, easter + dt.timedelta(days=1)}
    if san_francesco_from and year >= san_francesco_from:
        days.add(dt.date(year, *SAN_FRANCESCO))
    return frozenset(days)


@dataclass(frozen=True)
class BusinessCalendar:
    """When the help desk works. Raises ValueError when it would never work."""

    tz: dt.tzinfo = field(default_factory=lambda: zoneinfo.ZoneInfo("Europe/Rome"))
    opens: dt.time = dt.time(8, 30)
    closes: dt.time = dt.time(17, 30)
    weekdays: frozenset[int] = frozenset(range(5))  # Monday = 0
    yearly_holidays: frozenset[tuple[int, int]] = frozenset()  # local: (month, day)
    one_off_holidays: frozenset[dt.date] = frozenset()
    san_francesco_from: int = 2026

    def __post_init__(self) -> None:
        if not self.opens < self.closes:
            raise ValueError("business hours must open before they close")
        if not self.weekdays or not self.weekdays <= set(range(7)):
            raise ValueError("business days must be some of mon..sun")

    @classmethod
    def from_settings(cls, settings: Config | dict[str, Any]) -> BusinessCalendar:
        """The calendar the settings describe (see the module docstring); ValueError if
        a setting is malformed."""
        config = as_config(settings)
        opens, _, closes = config.sla_business_hours.partition("-")
        days = config.sla_business_days
        yearly, once = set(), set()
        for item in config.sla_local_holidays.split():
            if item.count("-") == 2:
                once.add(dt.date.fromisoformat(item))
            else:
                month, day = (int(x) for x in item.split("-"))
                dt.date(2024, month, day)  # raises on 02-30; 2024 allows 02-29
                yearly.add((month, day))
        return cls(
            tz=zoneinfo.ZoneInfo(config.sla_timezone),
            opens=dt.time.fromisoformat(opens.strip()),
            closes=dt.time.fromisoformat(closes.strip()),
            weekdays=frozenset(DAY_NAMES.index(d[:3].lower()) for d in days.split()),
            yearly_holidays=frozenset(yearly),
            one_off_holidays=frozenset(once),
            san_francesco_from=config.sla_san_francesco_from,
        )

    # -- days -----------------------------------------------------------------------------
    def is_holiday(self, day: dt.date) -> bool:
        return (
            day in national_holidays(day.year, self.san_francesco_from)
            or (day.month, day.day) in self.yearly_holidays
            or day in self.one_off_holidays
        )

    def is_business_day(self, day: dt.date) -> bool:
        return day.weekday() in self.weekdays and not self.is_holiday(day)

    def window(self, day: dt.date) -> tuple[dt.datetime, dt.datetime] | None:
        """The business hours of ``day`` as UTC instants, or None if it is not a business
        day."""
        if not self.is_business_day(day):
            return None
        start = dt.datetime.combine(day, self.opens, tzinfo=self.tz).astimezone(dt.UTC)
        end = dt.datetime.combine(day, self.closes, tzinfo=self.tz).astimezone(dt.UTC)
        return (start, end) if start < end else None

    def windows(self, start: dt.datetime) -> Iterator[tuple[dt.datetime, dt.datetime]]:
        """Business windows from ``start`` on, the first clipped to start; at most
        ``_MAX_DAYS`` days (then ValueError)."""
        start = _utc(start)
        day = start.astimezone(self.tz).date()
        for _ in range(_MAX_DAYS):
            window = self.window(day)
            if window is not None and window[1] > start:
                yield max(window[0], start), window[1]
            day += dt.timedelta(days=1)
        raise ValueError(f"no end within {_MAX_DAYS} days")

    # -- clocks ---------------------------------------------------------------------------
    def is_open(self, moment: dt.datetime) -> bool:
        window = self.window(_utc(moment).astimezone(self.tz).date())
        return window is not None and window[0] <= _utc(moment) <= window[1]

    def deadline(self, start: dt.datetime, business_duration: dt.timedelta) -> dt.datetime:
        """The instant at which a clock started at ``start`` has run ``business_duration``
        of business time (in the calendar's zone). A clock started outside business hours
        starts at the next opening; zero returns ``start``. ValueError for a negative
        duration, a naive ``start`` or a deadline more than three years away."""
        if business_duration < dt.timedelta(0):
            raise ValueError("a business duration cannot be negative")
        if not business_duration:
            return _utc(start).astimezone(self.tz)
        left = business_duration
        for begin, end in self.windows(start):
            if left <= end - begin:
                return (begin + left).astimezone(self.tz)
            left -= end - begin
        raise AssertionError("unreachable: windows() raises when it runs out")

    def business_elapsed(self, start: dt.datetime, end: dt.datetime) -> dt.timedelta:
        """Business time between ``start`` and ``end`` (zero if ``end`` is not after
        ``start``). ValueError for naive datetimes or a span of more than three years."""
        start, end = _utc(start), _utc(end)
        total = dt.timedelta(0)
        if end <= start:
            return total
        for begin, close in self.windows(start):
            if begin >= end:
                break
            total += min(close, end) - begin
        return total


def _utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("naive datetime given where an aware one is required")
    return moment.astimezone(dt.UTC)
