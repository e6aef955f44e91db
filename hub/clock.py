"""The one clock: now (UTC) and "what day is it" in Italy.

Every rule that asks what day it is (due dates, expiry, paVerify and paGetPayment, daily
files, dashboards' "today") takes the Italian business date from here, never from
``date.today()`` or the host's zone: between 00:00 and 02:00 Italian time the UTC date is still
yesterday's. Times are stored in UTC and shown in Europe/Rome. pagoPA's offset-less times are
Europe/Rome. Tests replace the clock with ``FakeClock`` (``use``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import zoneinfo
from collections.abc import Iterator

ROME = zoneinfo.ZoneInfo("Europe/Rome")  # Italian local time, summer time included


class Clock:
    """The real clock."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class FakeClock(Clock):
    """A clock that stands still until moved (tests)."""

    def __init__(self, now: dt.datetime) -> None:
        if now.tzinfo is None:
            raise ValueError("a FakeClock needs an aware datetime")
        self._now = now.astimezone(dt.UTC)
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        return self._now

    def set(self, now: dt.datetime) -> None:
        with self._lock:
            self._now = now.astimezone(dt.UTC)

    def advance(self, delta: dt.timedelta) -> None:
        with self._lock:
            self._now += delta


_current: Clock = Clock()


def now() -> dt.datetime:
    """Now, in UTC (aware)."""
    return _current.now()


def business_date(moment: dt.datetime) -> dt.date:
    """The Italian calendar date of an aware ``moment``."""
    return moment.astimezone(ROME).date()


def today() -> dt.date:
    """Today's date in Italy."""
    return business_date(now())


def local(moment: dt.datetime) -> dt.datetime:
    """``moment`` in Italian time, for showing it."""
    return moment.astimezone(ROME)


def show(moment: dt.datetime | None, *, zone: bool = False, seconds: bool = False) -> str:
    """The one way a stored time is shown to people (pages, PDFs, CSVs; the templates' ``rome``
    filter): in Italian time, ``2026-12-07 14:05`` (``seconds``: ``14:05:09``); ``zone`` adds
    the zone's name as Italy writes it, ``CET`` in winter or ``CEST`` in summer, where a
    reader could take it for another zone's time. A naive ``moment`` is a stored UTC time.
    None shows as an empty string."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    italian = moment.astimezone(ROME)
    text = italian.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    return f"{text} {italian.tzname()}" if zone else text


def day_start(day: dt.date) -> dt.datetime:
    """The first instant (UTC) of the Italian calendar day ``day``."""
    return dt.datetime.combine(day, dt.time(), ROME).astimezone(dt.UTC)


@contextlib.contextmanager
def use(clock: Clock) -> Iterator[Clock]:
    """Make ``clock`` the clock of the process for the block (tests)."""
    global _current
    previous, _current = _current, clock
    try:
        yield clock
    finally:
        _current = previous
