"""Benchmark: a bulk load of a generated CSV (default 100,000 rows: single notices and
three-instalment plans, some rows with two transfers, a different debtor on every position) on
a throwaway PostgreSQL database, in one process, chunk by chunk as the actor does. Prints
rows/s, peak RSS (getrusage) and the RSS after each tenth of the file, which should stay flat.

Then the PostgreSQL floor, in the same run and database (the machine may be shared: compare the
two, not figures from different runs): the rows the load wrote (positions, options, transfers)
read back and COPYed again, chunk by chunk, one transaction per chunk, into plain tables of the
same columns without indexes or constraints. Only the COPYs and commits are timed; the ratio
load time / floor time is what the load adds on top of PostgreSQL taking the rows.

    .venv/bin/python bench/bulk_bench.py [--rows 100000] [--chunk 500] [--publish] [--keep]
                                         [--no-floor]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
from stdnum.it import codicefiscale

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hub.db import make_engine, make_session_factory
from hub.logging import configure_logging
from hub.migrate import upgrade
from hub.models import BulkLoad, Ente, Intermediary, Station
from hub.positions import bulk

PG_ADMIN = os.environ.get(
    "PAYHUB_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def create_database() -> tuple[sa.Engine, str, sa.Engine]:
    """A throwaway database on the benchmark's server: (admin engine, its name, its engine)."""
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"payhub_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    return admin, name, make_engine(url)


def drop_database(admin: sa.Engine, name: str, *, keep: bool = False) -> None:
    if not keep:
        with admin.connect() as conn:
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"
                ),
                {"n": name},
            )
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


IBAN = "IT60X0542811101000000123456"
IBAN2 = "IT36A0301503200000003517230"
HEADER = [
    "iupd",
    "debtor_type",
    "debtor_fiscal_code",
    "debtor_name",
    "description",
    "amount",
    "due_date",
    "instalment_number",
    "instalment_count",
    "transfer1_amount",
    "transfer1_remittance_information",
    "transfer1_category",
    "transfer1_iban",
    "transfer2_amount",
    "transfer2_remittance_information",
    "transfer2_category",
    "transfer2_iban",
]


def rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def debtor_code(k: int) -> str:
    """A valid fiscal code, different for each k below 33,600,000 (a real file's debtors are
    all different: the identifier checks' cache must not see them repeat)."""
    base = (
        f"RSSMRA{k % 100:02d}{'ABCDEHLMPRST'[k // 100 % 12]}{1 + k // 1200 % 28:02d}"
        f"H{k // 33600 % 1000:03d}"
    )
    return base + codicefiscale.calc_check_digit(base)


def generate(path: Path, rows: int) -> None:
    """Write the CSV a row at a time: every fourth position is a 3-instalment plan."""
    due = dt.date.today() + dt.timedelta(days=60)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, delimiter=";")
        writer.writerow(HEADER)
        written, k = 0, 0
        while written < rows:
            k += 1
            base = [f"BULK-{k:07d}", "F", debtor_code(k), "Mario Rossi", "TARI 2026"]
            if k % 4 == 0 and rows - written >= 3:
                for n in (1, 2, 3):
                    writer.writerow(
                        [
                            *base,
                            "40,00",
                            (due + dt.timedelta(days=30 * n)).isoformat(),
                            n,
                            3,
                            "40,00",
                            "TARI",
                            "9/0101101IM/",
                            IBAN,
                            "",
                            "",
                            "",
                            "",
                        ]
                    )
                written += 3
            else:
                two = k % 3 == 0
                writer.writerow(
                    [
                        *base,
                        "120,00",
                        due.isoformat(),
                        "",
                        "",
                        "100,00" if two else "120,00",
                        "TARI",
                        "9/0101101IM/",
                        IBAN,
                        *(("20,00", "TEFA", "9/0101101IM/", IBAN2) if two else ("", "", "", "")),
                    ]
                )
                written += 1


FLOOR_TABLES = (
    ("debt_position", "id"),
    ("payment_option", "position_id"),
    ("transfer", "option_id"),
)


def copy_floor(engine: sa.Engine, chunk_positions: int) -> tuple[float, list[int]]:
    """COPY the loaded rows again into plain tables (LIKE: the columns and NOT NULL, no index,
    key or check), ``chunk_positions`` positions per transaction. Returns the seconds spent in
    COPY and COMMIT, and the rows copied per table."""
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        with conn.cursor() as cur:
            for table, _ in FLOOR_TABLES:
                cur.execute(f"CREATE TABLE floor_{table} (LIKE {table})")
            conn.commit()
            cur.execute("SELECT min(id), max(id) FROM debt_position")
            low, high = cur.fetchone()
        elapsed, counts = 0.0, [0] * len(FLOOR_TABLES)
        start = low or 1
        while high is not None and start <= high:
            end = start + chunk_positions
            # not timed: read the chunk's rows back (positions by id, options by position,
            # transfers by option)
            with conn.cursor() as cur:
                cur.execute("SELECT * FROM debt_position WHERE id >= %s AND id < %s", (start, end))
                chunk = [cur.fetchall()]
                cur.execute(
                    "SELECT * FROM payment_option WHERE position_id >= %s AND position_id < %s",
                    (start, end),
                )
                chunk.append(cur.fetchall())
                cur.execute(
                    "SELECT t.* FROM transfer t JOIN payment_option o ON o.id = "
                    "t.option_id WHERE o.position_id >= %s AND o.position_id < %s",
                    (start, end),
                )
                chunk.append(cur.fetchall())
            conn.commit()
            started = time.perf_counter()
            with conn.cursor() as cur:
                for k, ((table, _), rows) in enumerate(zip(FLOOR_TABLES, chunk, strict=True)):
                    with cur.copy(f"COPY floor_{table} FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                    counts[k] += len(rows)
            conn.commit()
            elapsed += time.perf_counter() - started
            start = end
        return elapsed, counts
    finally:
        raw.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=bulk.CHUNK_ROWS)
    parser.add_argument("--publish", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument(
        "--no-floor", action="store_true", help="skip the PostgreSQL floor (COPY of the same rows)"
    )
    args = parser.parse_args()
    configure_logging({"payhub.log_level": "WARNING"})

    admin, name, engine = create_database()
    try:
        upgrade(engine)
        factory = make_session_factory(engine)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "bulk.csv"
            started = time.perf_counter()
            generate(path, args.rows)
            print(
                f"generated {args.rows} rows, {path.stat().st_size / 2**20:.1f} MiB, in "
                f"{time.perf_counter() - started:.1f} s"
            )
            with factory.begin() as session:
                broker = Intermediary(broker_code="99999999999", name="Bench")
                station = Station(station_code="99999999999_01", intermediary=broker)
                ente = Ente(
                    fiscal_code="77777777777", name="Bench", iban=IBAN, segregation_code="01"
                )
                station.enti.append(ente)
                session.add_all([broker, station, ente])
                session.flush()
                stored = bulk.StoredFile(path, path.stat().st_size, "0" * 64, "csv")
                load_id = bulk.create_load(
                    session, ente, stored, publish=args.publish, cause="bench"
                ).id
            print(f"RSS before the load: {rss_mib():.1f} MiB")
            started, tenth, marks = time.perf_counter(), args.rows // 10, []
            cpu_started = time.process_time()
            while True:
                with factory.begin() as session:
                    more = bulk.run_chunk(session, load_id, chunk_rows=args.chunk)
                    done = session.get(BulkLoad, load_id).rows_done
                if done >= (len(marks) + 1) * tenth:
                    marks.append(f"{rss_mib():.0f}")
                if not more:
                    break
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
            with factory() as session:
                load = session.get(BulkLoad, load_id)
                print(
                    f"rows {load.rows_done} (failed {load.rows_failed}), positions "
                    f"{load.positions_created}, publish={args.publish}, chunk {args.chunk}"
                )
            print(
                f"{elapsed:.1f} s, {load.rows_done / elapsed:,.0f} rows/s; this process's CPU "
                f"{cpu:.1f} s ({load.rows_done / cpu:,.0f} rows per CPU-second)"
            )
            print(f"RSS per tenth (MiB): {' '.join(marks)}")
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"peak RSS (getrusage): {peak:.1f} MiB")
        if not args.no_floor and load.positions_created:
            # positions per chunk as the load had them on average
            per_chunk = max(1, round(load.positions_created * args.chunk / load.rows_done))
            floor, counts = copy_floor(engine, per_chunk)
            print(
                f"PostgreSQL floor: COPY of the same {counts[0]} positions, {counts[1]} "
                f"options, {counts[2]} transfers into plain tables, {per_chunk} positions "
                f"per transaction: {floor:.1f} s, {load.rows_done / floor:,.0f} rows/s"
            )
            print(f"load / floor: {elapsed / floor:.1f}x the time")
        print(f"load average (1, 5, 15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        engine.dispose()
        drop_database(admin, name, keep=args.keep)


if __name__ == "__main__":
    main()
