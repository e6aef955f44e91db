"""Answer times of the station, counted per minute in memory and written once a minute.

The paForNode endpoint calls ``record(operation, seconds)`` for every answer it builds. That
call takes a lock and adds to a bucket (count, count over 2 s, total, max, histogram) of the
current minute: no I/O, a few microseconds. A daemon thread wakes every
``payhub.sla_flush_seconds`` (default 5) and writes the buckets of the minutes that are over to
``sla_minute``, one row per (minute, operation, process), in a short transaction of its own,
never the request's. A bucket that a late answer adds to a minute already written is added to
its row. What has not been written when the process dies is lost (at most a minute and a few
seconds of counts).

For the answers pagoPA's KPIs judge by outcome (``OUTCOME_OPERATIONS``: paSendRT/V2 for B.9,
paDemandPaymentNotice for B.5) ``record`` is also given the outcome (``OK`` or the fault code)
and the request's idStation; ``count`` does the same for answers whose time is not an SLA figure
(the payment-options service, B.6, keyed by Ente). Each adds one to a counter of the minute
under the same lock, and the flush writes them to ``sla_outcome`` in the same transaction as
``sla_minute``. ``replace_outcome`` is the station's system-error view's: the answer
became PAA_SYSTEM_ERROR (an error below the handler, a failed commit).
"""

from __future__ import annotations

import atexit
import bisect
import contextlib
import datetime as dt
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import structlog

from hub.models.sla import HISTOGRAM_BOUNDS
from hub.sla.minute_rows import add_minute, add_outcome

log = structlog.get_logger(__name__)

THRESHOLD = 2.0  # seconds: the Node ⇄ EC service level is 98 % of answers within it
assert THRESHOLD in HISTOGRAM_BOUNDS
OUTCOME_OPERATIONS = frozenset({"paSendRT", "paSendRTV2", "paDemandPaymentNotice"})
# (minute, operation, station, ente, outcome) -> answers
OutcomeKey = tuple[int, str, str, str, str]


class Bucket:
    __slots__ = ("count", "histogram", "max", "over", "total")

    def __init__(self) -> None:
        self.count = 0
        self.over = 0
        self.total = 0.0
        self.max = 0.0
        self.histogram = [0] * (len(HISTOGRAM_BOUNDS) + 1)


class ResponseRecorder:
    """Counts answers per (minute, operation); ``flush`` writes the finished minutes.

    ``factory`` makes sessions for the writes; ``clock`` (seconds since the epoch) is
    replaceable for tests.
    """

    def __init__(
        self,
        factory: Any,
        *,
        flush_seconds: float = 5.0,
        clock: Callable[[], float] = time.time,
        source: str | None = None,
    ) -> None:
        self.factory = factory
        self.flush_seconds = flush_seconds
        self.clock = clock
        self.source = (source or f"{socket.gethostname()}:{os.getpid()}")[:80]
        self._buckets: dict[tuple[int, str], Bucket] = {}
        self._outcomes: dict[OutcomeKey, int] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._exit_registered = False
        os.register_at_fork(after_in_child=self.after_fork)

    def record(
        self, operation: str, seconds: float, outcome: str | None = None, station: str = ""
    ) -> None:
        """Count one answer of ``operation`` that took ``seconds``; with ``outcome`` (``OK`` or
        a fault code) of an operation in ``OUTCOME_OPERATIONS``, count that outcome for
        ``station`` too. Never raises for I/O."""
        minute = int(self.clock() // 60)
        key = (minute, operation)
        slot = bisect.bisect_left(HISTOGRAM_BOUNDS, seconds)
        with self._lock:
            if outcome is not None and operation in OUTCOME_OPERATIONS:
                okey = (minute, operation, station[:35], "", outcome[:40])
                self._outcomes[okey] = self._outcomes.get(okey, 0) + 1
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = Bucket()
            bucket.count += 1
            bucket.total += seconds
            bucket.histogram[slot] += 1
            if seconds > THRESHOLD:
                bucket.over += 1
            if seconds > bucket.max:
                bucket.max = seconds
        if self._thread is None and self.flush_seconds > 0:
            self._start()

    def count(self, operation: str, outcome: str, *, station: str = "", ente: str = "") -> None:
        """Count one answer's outcome only (its time is no SLA figure): the payment-options
        service's, keyed by the Ente asked about. Never raises for I/O."""
        okey = (int(self.clock() // 60), operation, station[:35], ente[:35], outcome[:40])
        with self._lock:
            self._outcomes[okey] = self._outcomes.get(okey, 0) + 1
        if self._thread is None and self.flush_seconds > 0:
            self._start()

    def replace_outcome(
        self, operation: str, station: str, counted: str | None, outcome: str
    ) -> None:
        """The answer ended as ``outcome`` (a failed commit, an error below the view): count
        it, and take back the ``counted`` one if the view had counted one. Never raises."""
        if operation not in OUTCOME_OPERATIONS:
            return
        minute = int(self.clock() // 60)
        with self._lock:
            for value, n in ((outcome, 1), (counted, -1)):
                if value is not None:
                    okey = (minute, operation, station[:35], "", value[:40])
                    self._outcomes[okey] = self._outcomes.get(okey, 0) + n
        if self._thread is None and self.flush_seconds > 0:
            self._start()

    def take(self, everything: bool = False) -> dict[tuple[int, str], Bucket]:
        """Remove and return the buckets of finished minutes (all of them with
        ``everything``)."""
        return self._take(everything)[0]

    def _take(
        self, everything: bool = False
    ) -> tuple[dict[tuple[int, str], Bucket], dict[OutcomeKey, int]]:
        current = int(self.clock() // 60)
        with self._lock:
            done = {k: b for k, b in self._buckets.items() if everything or k[0] < current}
            for key in done:
                del self._buckets[key]
            outcomes = {k: n for k, n in self._outcomes.items() if everything or k[0] < current}
            for okey in outcomes:
                del self._outcomes[okey]
        return done, outcomes

    def flush(self, everything: bool = False) -> int:
        """Write the finished minutes to ``sla_minute`` (and their outcome counts to
        ``sla_outcome``); returns the answer-time rows written. On a database error the
        counts are put back for the next flush, and the error raised."""
        done, outcomes = self._take(everything)
        if not done and not outcomes:
            return 0
        try:
            write_minutes(self.factory, self.source, done, outcomes)
        except Exception:
            with self._lock:
                for key, bucket in done.items():
                    if key in self._buckets:
                        _merge(self._buckets[key], bucket)
                    else:
                        self._buckets[key] = bucket
                for okey, n in outcomes.items():
                    self._outcomes[okey] = self._outcomes.get(okey, 0) + n
            raise
        return len(done)

    def stop(self) -> None:
        """Stop the flushing thread and write everything counted so far; the next
        ``record`` starts a new thread."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        self._stop = threading.Event()
        try:
            self.flush(everything=True)
        except Exception as exc:
            log.warning("sla.flush_failed", error=type(exc).__name__)

    def after_fork(self) -> None:
        """In a forked child (a server that builds the app before it forks): the parent's
        counts and thread are not this process's."""
        self.source = f"{socket.gethostname()}:{os.getpid()}"[:80]
        self._buckets = {}
        self._outcomes = {}
        self._lock = threading.Lock()
        self._thread = None
        self._stop = threading.Event()

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="sla-recorder", daemon=True)
        self._thread.start()
        if not self._exit_registered:
            atexit.register(self._at_exit)
            self._exit_registered = True

    def _at_exit(self) -> None:
        """Write the last minutes when the process ends normally. Nothing is logged on
        failure: at exit the log streams may already be closed."""
        self._stop.set()
        with contextlib.suppress(Exception):  # the database is gone too: counts lost
            self.flush(everything=True)

    def _run(self) -> None:
        stop = self._stop
        while not stop.wait(self.flush_seconds):
            try:
                self.flush()
            except Exception:  # the database is away: kept, tried again at the next tick
                log.exception("sla.flush_failed")


def write_minutes(
    factory: Any,
    source: str,
    buckets: dict[tuple[int, str], Bucket],
    outcomes: dict[OutcomeKey, int] | None = None,
) -> None:
    """Add ``buckets`` to their ``sla_minute`` rows and ``outcomes`` to their ``sla_outcome``
    rows (created when absent), in one transaction."""
    with factory() as session, session.begin():
        add_outcomes(session, source, outcomes or {})
        for (minute, operation), bucket in sorted(buckets.items()):
            start = dt.datetime.fromtimestamp(minute * 60, dt.UTC)
            add_minute(
                session,
                start,
                operation,
                source,
                bucket.count,
                bucket.over,
                bucket.total,
                bucket.max,
                bucket.histogram,
            )


def add_outcomes(session: Any, source: str, outcomes: dict[OutcomeKey, int]) -> None:
    """Add ``outcomes`` to their ``sla_outcome`` rows of ``source`` (created when absent)."""
    for (minute, operation, station, ente, outcome), n in sorted(outcomes.items()):
        start = dt.datetime.fromtimestamp(minute * 60, dt.UTC)
        add_outcome(session, start, operation, station, ente, outcome, source, n)


def _merge(into: Bucket, other: Bucket) -> None:
    into.count += other.count
    into.over += other.over
    into.total += other.total
    into.max = max(into.max, other.max)
    into.histogram = [a + b for a, b in zip(into.histogram, other.histogram, strict=True)]
