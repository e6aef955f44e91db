"""What the reconciliation benchmarks share (bench/fdr_bench.py, bench/statement_bench.py): a
throwaway database with one Ente, a timed run with its CPU seconds and RSS sampled every 50 ms,
the memory ratio between two sizes, and the machine's load average (it may be shared: each
benchmark prints its ratio to a PostgreSQL floor measured in the same run)."""

from __future__ import annotations

import contextlib
import os
import resource
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bulk_bench import create_database, drop_database, rss_mib  # the same server, RSS

from hub.db import make_session_factory
from hub.logging import configure_logging
from hub.migrate import upgrade
from hub.models import Ente, Intermediary, Station

EC = "77777777777"
PSP = "BENCHPSP01"
IBAN = "IT60X0542811101000000123456"
AMOUNT_CENTS = 12_000


class RssSampler(threading.Thread):
    """This process's RSS (MiB) every 50 ms until ``stop`` is set."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.samples.append(rss_mib())
            self.stop.wait(0.05)


@dataclass
class Run:
    """One timed run: wall and CPU seconds of this process, RSS before and at its peak."""

    seconds: float = 0.0
    cpu: float = 0.0
    rss_before: float = 0.0
    rss_max: float = 0.0
    load: tuple[float, float, float] = (0.0, 0.0, 0.0)  # the 1-minute... at the end
    result: dict[str, Any] = field(default_factory=dict)


def timed(work: Callable[[], dict[str, Any]]) -> Run:
    """Run ``work`` (what it returns goes in ``Run.result``), timing it and sampling RSS."""
    run = Run(rss_before=rss_mib())
    sampler = RssSampler()
    sampler.start()
    cpu = time.process_time()
    started = time.perf_counter()
    try:
        run.result = work()
    finally:
        run.seconds = time.perf_counter() - started
        run.cpu = time.process_time() - cpu
        sampler.stop.set()
        sampler.join()
    run.rss_max = max(max(sampler.samples or [0.0]), rss_mib())
    run.load = os.getloadavg()
    return run


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} CPUs)"


def memory_line(what: str, high: Run, n: int, low: Run, small: int) -> str:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return (
        f"memory: peak RSS {high.rss_max:.0f} MiB at {n:,} {what} vs {low.rss_max:.0f} MiB at "
        f"{small:,}: ratio {high.rss_max / low.rss_max:.2f} for {n / small:.0f}x the {what} "
        f"(growth over the RSS before each: {high.rss_max - high.rss_before:.0f} vs "
        f"{low.rss_max - low.rss_before:.0f} MiB); getrusage peak {peak:.0f} MiB"
    )


def summary_line(label: str, run: Run, floor: float) -> str:
    """The figures the README table takes: wall, CPU, the floor of the same run, the ratio,
    the load average when the run ended."""
    one, five, _ = run.load
    return (
        f"SUMMARY {label}: {run.seconds:.1f} s wall, {run.cpu:.1f} s CPU, floor {floor:.2f} s, "
        f"{run.seconds / floor:.1f}x the floor; load average {one:.1f} (1 min) {five:.1f} (5 min)"
    )


@contextlib.contextmanager
def bench_database(*, keep: bool = False) -> Iterator[tuple[sa.Engine, Any, int]]:
    """A throwaway database at the current schema with one Ente (on a station of its own):
    (engine, session factory, Ente id); dropped afterwards unless ``keep``."""
    configure_logging(level="WARNING")
    admin, name, engine = create_database()
    try:
        upgrade(engine)
        factory = make_session_factory(engine)
        with factory.begin() as session:
            broker = Intermediary(broker_code="99999999999", name="Bench")
            station = Station(station_code="99999999999_01", intermediary=broker)
            ente = Ente(fiscal_code=EC, name="Bench", iban=IBAN, segregation_code="01")
            station.enti.append(ente)
            session.add_all([broker, station, ente])
            session.flush()
            ente_id = ente.id
        yield engine, factory, ente_id
    finally:
        engine.dispose()
        drop_database(admin, name, keep=keep)
