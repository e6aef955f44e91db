"""The help-desk calendar: business hours, Italian public holidays, and SLA clocks that pause.

Pure: no I/O, no clock of its own. A clock runs only inside business hours (default Monday to
Friday, 08:30–17:30 Europe/Rome; each weekday may have hours of its own, such as the contract's
Monday–Friday 08:30–18:30 and Saturday 08:30–13:30) on days that are not holidays: the
national holidays of
law 260/1949 as amended (Easter Monday computed; 4 October, San Francesco, from 2026 by
law 151/2025), plus local holidays from settings (the patron saint of the city).

Durations are real elapsed time: business hours are wall-clock hours in the calendar's zone,
converted to instants, so a day on which summer time starts or ends still has its 9 hours
(08:30–17:30 never spans the 02:00–03:00 change).

Settings (all optional):
  payhub.sla_timezone               default Europe/Rome
  payhub.sla_business_hours         default 08:30-17:30: one range for every business day
                                    (payhub.sla_business_days); or hours per weekday, groups
                                    separated by ";" or ",", each days then a range, days a name
                                    or a span: "mon-fri 08:30-18:30; sat 08:30-13:30" (the days
                                    named are then the business days)
  payhub.sla_business_days          default mon tue wed thu fri (with a single range)
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
    # hours per weekday (Monday = 0): when given, they replace opens/closes/weekdays
    day_hours: tuple[tuple[int, dt.time, dt.time], ...] = ()

    def __post_init__(self) -> None:
        if not self.opens < self.closes:
            raise ValueError("business hours must open before they close")
        if not self.weekdays or not self.weekdays <= set(range(7)):
            raise ValueError("business days must be some of mon..sun")
        for day, opens, closes in self.day_hours:
            if not 0 <= day <= 6 or not opens < closes:
                raise ValueError(f"{DAY_NAMES[day % 7]}: hours must open before they close")
        if len({d for d, _, _ in self.day_hours}) != len(self.day_hours):
            raise ValueError("a weekday has two ranges of business hours")

    def hours(self, weekday: int) -> tuple[dt.time, dt.time] | None:
        """(opens, closes) on ``weekday`` (Monday = 0), None if it is not a business day."""
        if self.day_hours:
            for day, opens, closes in self.day_hours:
                if day == weekday:
                    return opens, closes
            return None
        return (self.opens, self.closes) if weekday in self.weekdays else None

    @classmethod
    def from_settings(cls, settings: Config | dict[str, Any]) -> BusinessCalendar:
        """The calendar the settings describe (see the module docstring); ValueError if
        a setting is malformed."""
        config = as_config(settings)
        per_day = parse_day_hours(config.sla_business_hours)
        opens, closes = dt.time(8, 30), dt.time(17, 30)  # unused with hours per weekday
        if not per_day:
            first, _, last = config.sla_business_hours.partition("-")
            opens, closes = (
                dt.time.fromisoformat(first.strip()),
                dt.time.fromisoformat(last.strip()),
            )
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
            opens=opens,
            closes=closes,
            weekdays=frozenset(DAY_NAMES.index(d[:3].lower()) for d in days.split()),
            day_hours=per_day,
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
        return self.hours(day.weekday()) is not None and not self.is_holiday(day)

    def window(self, day: dt.date) -> tuple[dt.datetime, dt.datetime] | None:
        """The business hours of ``day`` as UTC instants, or None if it is not a business
        day."""
        hours = self.hours(day.weekday())
        if hours is None or self.is_holiday(day):
            return None
        start = dt.datetime.combine(day, hours[0], tzinfo=self.tz).astimezone(dt.UTC)
        end = dt.datetime.combine(day, hours[1], tzinfo=self.tz).astimezone(dt.UTC)
        return (start, end) if start < end else None

    def add_business_days(self, start: dt.datetime, days: int) -> dt.date:
        """The business day that comes ``days`` business days after ``start``'s day (the day
        of ``start`` not counted): "within 15 working days" ends at the end of that day."""
        day = _utc(start).astimezone(self.tz).date()
        for _ in range(_MAX_DAYS):
            if days <= 0:
                return day
            day += dt.timedelta(days=1)
            days -= self.is_business_day(day)
        raise ValueError(f"no end within {_MAX_DAYS} days")

    def business_days_between(self, start: dt.datetime, end: dt.datetime) -> int:
        """Business days after ``start``'s day up to and including ``end``'s day."""
        first = _utc(start).astimezone(self.tz).date()
        last = _utc(end).astimezone(self.tz).date()
        if (last - first).days > _MAX_DAYS:
            raise ValueError(f"more than {_MAX_DAYS} days")
        count, day = 0, first
        while day < last:
            day += dt.timedelta(days=1)
            count += self.is_business_day(day)
        return count

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


def parse_day_hours(text: str) -> tuple[tuple[int, dt.time, dt.time], ...]:
    """``"mon-fri 08:30-18:30; sat 08:30-13:30"`` as (weekday, opens, closes) per day; ``()``
    for a single range without days (``"08:30-17:30"``). ValueError when malformed."""
    if not any(c.isalpha() for c in text):
        return ()
    result: list[tuple[int, dt.time, dt.time]] = []
    for group in text.replace(",", ";").split(";"):
        words = group.split()
        if not words:
            continue
        if len(words) < 2:
            raise ValueError(f"{group.strip()!r}: days then hours, such as 'sat 08:30-13:30'")
        opens, _, closes = words[-1].partition("-")
        try:
            hours = (dt.time.fromisoformat(opens), dt.time.fromisoformat(closes))
        except ValueError:
            raise ValueError(f"{words[-1]!r}: hours are HH:MM-HH:MM") from None
        for item in words[:-1]:
            first, _, last = item.lower().partition("-")
            try:
                a = DAY_NAMES.index(first[:3])
                b = DAY_NAMES.index(last[:3]) if last else a
            except ValueError:
                raise ValueError(f"{item!r}: days are mon..sun or a span mon-fri") from None
            if b < a:
                raise ValueError(f"{item!r}: a span goes forward (mon-fri)")
            result.extend((day, *hours) for day in range(a, b + 1))
    return tuple(sorted(result))


def _utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("naive datetime given where an aware one is required")
    return moment.astimezone(dt.UTC)
