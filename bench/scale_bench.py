"""Benchmark: the dashboard, the searches, the REST list and the CSV export on a throwaway
PostgreSQL database holding N payment options (default 1,000,000) for two Enti, and the bulk
load and notice batch benchmarks beside them; each figure with its floor measured in the same
run (the machine may be shared: compare the two, not figures from different runs).

Setup: bench/scale_data.py writes the rows inside PostgreSQL (90 % for a large Ente, 10 % for a
small one, three years of history); the counters' trigger counts them as it would count real
transitions. Then ANALYZE.

Figures (p95 over ``--repeat`` runs, in one process):

- dashboard overview: the Ente page's queries (counts today and this month, latest transitions,
  Stand-In receipts), and for comparison the history scan it replaced;
- searches: by debtor's fiscal code, by state and week, by state;
- REST list: the first page of 50 positions (and the tenth page, by cursor) through the WSGI
  application, JSON included;
- CSV export of every option of one state (10,000+ rows): its rows/s, complete or not;
- floors: a primary-key lookup (the cheapest indexed read, one round trip) for the queries;
  GET of one position (same application, key check, serialisation) for the REST list; COPY TO
  of the same rows for the export.
- bulk load (bench/bulk_bench.py, its own database, floor: COPY of the same rows) and notices
  (bench/notices_bench.py, notices per CPU-second), run as subprocesses, their lines quoted.

Ends with the table and EXPLAIN (ANALYZE, BUFFERS) of the slowest query.

    .venv/bin/python bench/scale_bench.py [--options 1000000] [--repeat 30] [--bulk-rows 20000]
                                          [--notices 2000] [--keep]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bulk_bench import create_database, drop_database
from scale_data import fill

from hub import clock, dashboard
from hub.db import make_session_factory
from hub.logging import configure_logging
from hub.migrate import upgrade
from hub.models import Ente, Intermediary, PaymentOption, StateTransition, Station
from hub.tenants import api_keys
from hub.tenants.stations import standin_status
from workflows.payment import OptionStatus

BENCH = Path(__file__).resolve().parent
IBAN = "IT60X0542811101000000123456"
CHUNK = 200_000  # options per INSERT ... SELECT during the setup


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """(p95 in ms over ``repeat`` runs after one warm-up, the last result)."""
    result = fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return p95(samples), result


def setup(factory: Any, n: int) -> tuple[int, int]:
    """Two Enti, 90 % / 10 % of the options; returns their ids."""
    with factory.begin() as session:
        broker = Intermediary(broker_code="99999999999", name="Bench")
        station = Station(station_code="99999999999_01", intermediary=broker)
        big = Ente(fiscal_code="77777777777", name="Big", iban=IBAN, segregation_code="01")
        small = Ente(fiscal_code="00112233445", name="Small", iban=IBAN, segregation_code="02")
        station.enti.extend([big, small])
        session.add_all([broker, station, big, small])
        session.flush()
        ids = big.id, small.id
    now = clock.now()
    for ente_id, seg, count in ((ids[0], "01", n - n // 10), (ids[1], "02", n // 10)):
        done = 0
        while done < count:
            part = min(CHUNK, count - done)
            t0 = time.perf_counter()
            with factory.begin() as session:
                fill(session, ente_id, part, tag=f"S{done}", segregation=seg, days=1095, now=now)
            done += part
            print(
                f"  Ente {seg}: {done:,}/{count:,} options "
                f"({part / (time.perf_counter() - t0):,.0f}/s)",
                flush=True,
            )
    return ids


def old_counts_by_state(session: Any, ente_id: int, since: dt.datetime) -> Any:
    """The dashboard's count before the counters: a scan of the history (for comparison)."""
    entered = (
        sa.select(StateTransition.option_id, StateTransition.to_state)
        .distinct()
        .join(PaymentOption, PaymentOption.id == StateTransition.option_id)
        .where(
            PaymentOption.ente_id == ente_id,
            StateTransition.created_at >= since,
            StateTransition.to_state.in_(dashboard.STATES),
        )
    ).subquery()
    return session.execute(
        sa.select(entered.c.to_state, sa.func.count(), sa.func.sum(PaymentOption.amount_cents))
        .join(PaymentOption, PaymentOption.id == entered.c.option_id)
        .group_by(entered.c.to_state)
    ).all()


def explain(session: Any, query: Any) -> str:
    dialect = session.get_bind().dialect
    compiled = query.compile(dialect=dialect)
    params = {}
    for key, value in compiled.params.items():
        process = compiled.binds[key].type.bind_processor(dialect)
        params[key] = process(value) if process else value
    rows = session.connection().exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}", params)
    return "\n".join(r[0] for r in rows)


def quoted(out: str, pattern: str) -> str:
    """The lines of a sub-benchmark's output that carry its figures (all of it if it failed)."""
    lines = out.splitlines()
    if not out.startswith("failed"):
        lines = [line for line in lines if re.search(pattern, line)]
    return "".join(f"  {line}\n" for line in lines)


def run_sub(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args], capture_output=True, text=True, check=False
    )
    if done.returncode:
        return f"failed ({done.returncode}): {done.stdout[-300:]} {done.stderr[-700:]}"
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--options", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--bulk-rows", type=int, default=20_000)
    parser.add_argument("--notices", type=int, default=2_000)
    parser.add_argument("--no-subbench", action="store_true", help="skip bulk load and notices")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args()
    configure_logging({"payhub.log_level": "WARNING"})
    rows: list[tuple[str, float, str, float, str]] = []  # name, value, unit, floor, goal
    queries: dict[str, tuple[float, Any]] = {}

    admin, name, engine = create_database()
    try:
        upgrade(engine)
        factory = make_session_factory(engine)
        t0 = time.perf_counter()
        print(f"setup: {args.options:,} options", flush=True)
        big, _small = setup(factory, args.options)
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("ANALYZE"))
        with factory() as session:
            history = session.scalar(sa.select(sa.func.count()).select_from(StateTransition))
        print(
            f"setup done in {time.perf_counter() - t0:.0f} s: {history:,} history rows",
            flush=True,
        )

        repeat = args.repeat
        with factory() as session:
            some = session.scalar(sa.select(PaymentOption.id).where(PaymentOption.ente_id == big))
            floor, _ = timed(
                lambda: session.get(PaymentOption, some, populate_existing=True), repeat
            )
            today, month = dashboard.period_starts()
            now = clock.now()

            def overview() -> Any:
                return (
                    dashboard.counts_by_state(session, big, today),
                    dashboard.counts_by_state(session, big, month),
                    dashboard.latest_transitions(session, big),
                    standin_status(session, big, today=today, month=month, now=now),
                )

            ms, _ = timed(overview, repeat)
            rows.append(("dashboard overview (its 5 queries)", ms, "ms p95", floor, "<= 200 ms"))
            parts = {
                "overview: month's counts": dashboard.counts_by_state_query(big, month),
                "overview: latest transitions": dashboard.latest_transitions_query(big),
            }
            for label, query in parts.items():
                part, _ = timed(lambda q=query: session.execute(q).all(), repeat)
                rows.append((f"  {label}", part, "ms p95", floor, ""))
                queries[label] = (part, query)
            old, _ = timed(lambda: old_counts_by_state(session, big, month), min(repeat, 5))
            rows.append(("  (before: month's counts by history scan)", old, "ms p95", floor, ""))
            local = today.astimezone(dashboard.ROME).date()
            searches = {
                "search by fiscal code": dashboard.Filters(debtor_fiscal_code="SCLDBT0000012345"),
                "search by state and week": dashboard.Filters(
                    state=OptionStatus.PAID, date_from=local - dt.timedelta(days=7), date_to=local
                ),
                "search by state": dashboard.Filters(state=OptionStatus.REPORTED),
            }
            for label, filters in searches.items():
                ms, found = timed(lambda f=filters: dashboard.search(session, big, f, 201), repeat)
                rows.append((f"{label} ({len(found)} rows)", ms, "ms p95", floor, "<= 200 ms"))
                queries[label] = (ms, dashboard.search_query(big, filters).limit(201))

        list_ms, list_floor, tenth, small_first = rest_list(factory, engine, repeat)
        rows.append(("REST list, first page of 50", list_ms, "ms p95", list_floor, "<= 200 ms"))
        rows.append(("REST list, 10th page (cursor)", tenth, "ms p95", list_floor, "<= 200 ms"))
        rows.append(
            ("REST list, small Ente's first page", small_first, "ms p95", list_floor, "<= 200 ms")
        )

        exported, seconds, floor_s = export(factory, engine, big)
        rows.append(
            (
                f"CSV export, {exported:,} rows (complete)",
                exported / seconds,
                "rows/s",
                exported / floor_s,
                ">= 10,000 rows",
            )
        )

        print()
        print(f"{'figure':<48} {'value':>12} {'unit':<8} {'floor':>10}  ratio   goal")
        for label, value, unit, floor_value, goal in rows:
            ratio = value / floor_value if floor_value else 0
            figures = f"{value:>12,.1f} {unit:<8} {floor_value:>10,.1f} {ratio:>6.1f}x"
            print(f"{label:<48} {figures}  {goal}")
        print(
            "floors: a primary-key lookup (queries), GET of one position through the same WSGI app "
            "(REST list), COPY (SELECT ...) TO STDOUT of the same rows (export)"
        )
        slowest = max(queries, key=lambda k: queries[k][0])
        with factory() as session:
            print(f"\nEXPLAIN (ANALYZE, BUFFERS) of the slowest query ({slowest}):")
            print(explain(session, queries[slowest][1]))
    finally:
        engine.dispose()
        drop_database(admin, name, keep=args.keep)

    if not args.no_subbench:
        print(f"\nbulk load ({args.bulk_rows:,} rows; goal >= 2,000 rows/s), bench/bulk_bench.py:")
        out = run_sub("bulk_bench.py", "--rows", str(args.bulk_rows))
        print(quoted(out, r"rows/s|floor"))
        print(f"notices ({args.notices:,}; goal >= 100 per CPU-second), bench/notices_bench.py:")
        out = run_sub("notices_bench.py", "--count", str(args.notices))
        print(quoted(out, r"notices"))


def rest_list(factory: Any, engine: Any, repeat: int) -> tuple[float, float, float, float]:
    """(first page p95, floor p95, tenth page p95, the small Ente's first page p95) in ms
    through the WSGI application."""
    from webtest import TestApp

    from payhub.app import configure

    with factory.begin() as session:
        key = api_keys.create_key(session, "bench", ["77777777777"]).secret
    url = engine.url.render_as_string(hide_password=False)
    app = TestApp(
        configure(
            {"sqlalchemy.url": url, "payhub.broker": "stub", "payhub.embedded_worker": "false"}
        ).make_wsgi_app()
    )
    auth = {"Authorization": f"Bearer {key}"}
    base = "/api/v1/enti/77777777777/debt-positions?limit=50"
    first, page = timed(lambda: app.get(base, headers=auth).json, repeat)
    assert len(page["items"]) == 50, page
    cursor = page["nextCursor"]
    for _ in range(8):
        cursor = app.get(f"{base}&cursor={cursor}", headers=auth).json["nextCursor"]
    tenth, _ = timed(lambda: app.get(f"{base}&cursor={cursor}", headers=auth), repeat)
    one = "/api/v1/enti/77777777777/debt-positions/S0-1"
    floor, _ = timed(lambda: app.get(one, headers=auth), repeat)
    small = "/api/v1/enti/00112233445/debt-positions?limit=50"
    with factory.begin() as session:
        key2 = api_keys.create_key(session, "bench small", ["00112233445"]).secret
    auth2 = {"Authorization": f"Bearer {key2}"}
    small_first, _ = timed(lambda: app.get(small, headers=auth2), repeat)
    return first, floor, tenth, small_first


def export(factory: Any, engine: Any, ente_id: int) -> tuple[int, float, float]:
    """Every reported option of the Ente through the dashboard's export: (rows, seconds, floor
    seconds); the floor is COPY of the same columns to a buffer."""
    from web.ops.views import csv_chunks

    with factory() as session:
        ente = session.get(Ente, ente_id)
    filters = dashboard.Filters(state=OptionStatus.REPORTED)
    t0 = time.perf_counter()
    lines = sum(chunk.count(b"\n") for chunk in csv_chunks(factory, ente, filters))
    seconds = time.perf_counter() - t0
    with factory() as session:
        expected = session.scalar(
            sa.select(sa.func.count()).where(
                PaymentOption.ente_id == ente_id, PaymentOption.status == OptionStatus.REPORTED
            )
        )
    assert lines - 1 == expected, (lines, expected)  # complete: every row
    query = dashboard.search_query(ente_id, filters).with_only_columns(*dashboard.EXPORT_COLUMNS)
    compiled = query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
    raw = engine.raw_connection()
    try:
        t0 = time.perf_counter()
        buffer = io.BytesIO()
        with raw.cursor() as cursor, cursor.copy(f"COPY ({compiled}) TO STDOUT") as copy:
            for data in copy:
                buffer.write(data)
        floor = time.perf_counter() - t0
    finally:
        raw.close()
    return expected, seconds, floor


if __name__ == "__main__":
    main()
