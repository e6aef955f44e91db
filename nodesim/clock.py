"""The simulator's clock: real time plus an offset that only moves forward."""

from __future__ import annotations

import datetime as dt
import threading

UTC = dt.UTC


class SimClock:
    """``now()`` is wall-clock time shifted by whatever ``advance`` added.

    ``frozen_at`` pins the clock (unit tests): then only ``advance`` moves it.
    """

    def __init__(self, frozen_at: dt.datetime | None = None) -> None:
        self._offset = dt.timedelta(0)
        self._frozen = frozen_at
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        with self._lock:
            base = self._frozen or dt.datetime.now(UTC)
            return base + self._offset

    def today(self) -> dt.date:
        return self.now().date()

    def advance(self, delta: dt.timedelta) -> dt.datetime:
        if delta < dt.timedelta(0):
            raise ValueError("the simulated clock only moves forward")
        with self._lock:
            self._offset += delta
        return self.now()

    @property
    def offset(self) -> dt.timedelta:
        return self._offset
