"""Benchmark: ingest and match one FdR 3 flow of 100,000 payments against 100,000 receipts.

On a throwaway PostgreSQL database: one Ente with N + S paid options (a position each, one
transfer each) and their receipts, written with COPY (not timed); then two FdR 3 flows naming
them, a small one of S payments (default 10,000) and the large one of N (default 100,000), each
served page by page (1,000 payments a page, as FdR 3 does) by an in-process stand-in for FdR 3's
organization API and ingested through the entry point the FdR 3 actor uses
(``hub.reconciliation.fdr3.ingest_flow``: fetch, parse, store, match, commit). Only the
ingestion and its commit are timed. Prints, per flow, wall seconds, CPU seconds of this process,
payments/s and the RSS sampled every 50 ms while it runs; then the memory ratio: the peak RSS
at N against the peak at S (close to 1 when memory is flat: a flow is never held whole).

Then the PostgreSQL floor, in the same run and database (the machine may be shared: compare
the two, not figures from different runs): a plain COPY of the same N entry rows into a table
without indexes (LIKE reporting_entry) and one ``UPDATE payment_option ... FROM`` joining them
to the options by IUV, in one transaction. The ratio ingest time / floor time is what payhub
adds on top of PostgreSQL taking the rows and moving the options.

    .venv/bin/python bench/fdr_bench.py [--payments 100000] [--small 10000] [--keep] [--no-floor]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recon_bench import (  # the throwaway database, timing, RSS, load average
    AMOUNT_CENTS,
    EC,
    IBAN,
    PSP,
    bench_database,
    load_average,
    memory_line,
    summary_line,
    timed,
)

from hub.models import Anomaly, Ente, PaymentOption
from hub.reconciliation import fdr3

PAGE = 1000


def iuv(k: int) -> str:
    return f"{k:017d}"


def iur(k: int) -> str:
    return f"IUR{k:012d}"


def populate(engine: sa.Engine, ente_id: int, n: int) -> None:
    """N positions, each with one paid option, its transfer and its receipt (COPY); the k-th
    has IUV ``iuv(k)`` and receipt ``iur(k)``, k from 1."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    due = dt.date.today() + dt.timedelta(days=30)
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        with conn.cursor() as cur:
            cur.execute("SELECT coalesce(max(id), 0) FROM debt_position")
            base = cur.fetchone()[0]
            with cur.copy(
                "COPY debt_position (id, ente_id, iupd, debtor_type, debtor_fiscal_code, "
                "debtor_name, description, due_date, status, version, created_at, updated_at) "
                "FROM STDIN"
            ) as copy:
                for k in range(1, n + 1):
                    copy.write_row(
                        (
                            base + k,
                            ente_id,
                            f"FDR-{k:07d}",
                            "F",
                            "RSSMRA80A01H501U",
                            "Mario",
                            "TARI 2026",
                            due,
                            "paid",
                            1,
                            now,
                            now,
                        )
                    )
            with cur.copy(
                "COPY payment_option (id, position_id, ente_id, notice_number, iuv, "
                "amount_cents, due_date, status, version, paid_cents, paid_at, created_at) "
                "FROM STDIN"
            ) as copy:
                for k in range(1, n + 1):
                    copy.write_row(
                        (
                            base + k,
                            base + k,
                            ente_id,
                            "3" + iuv(k),
                            iuv(k),
                            AMOUNT_CENTS,
                            due,
                            "paid",
                            2,
                            AMOUNT_CENTS,
                            now,
                            now,
                        )
                    )
            with cur.copy(
                "COPY transfer (option_id, id_transfer, beneficiary_fiscal_code, iban, "
                "amount_cents, remittance_information, category) FROM STDIN"
            ) as copy:
                for k in range(1, n + 1):
                    copy.write_row((base + k, 1, EC, IBAN, AMOUNT_CENTS, "TARI", "9/0101101IM/"))
            with cur.copy(
                "COPY receipt (ec_fiscal_code, receipt_id, ente_id, option_id, "
                "primitive_version, notice_number, creditor_reference_id, "
                "payment_amount_cents, outcome, standin, raw_xml, received_at) FROM STDIN"
            ) as copy:
                for k in range(1, n + 1):
                    copy.write_row(
                        (
                            EC,
                            iur(k),
                            ente_id,
                            base + k,
                            2,
                            "3" + iuv(k),
                            iuv(k),
                            AMOUNT_CENTS,
                            "OK",
                            False,
                            "<bench/>",
                            now,
                        )
                    )
            for table in ("debt_position", "payment_option", "transfer", "receipt"):
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
                cur.execute(f"ANALYZE {table}")
        conn.commit()
    finally:
        raw.close()


class FdrStandIn:
    """What ``fdr3.ingest_flow`` asks of FdR 3's organization API, answered from memory: the flow
    (SingleFlowResponse) and its payments page by page."""

    def __init__(
        self, n: int, fdr: str, revision: int, published: dt.datetime, *, first: int = 1
    ) -> None:
        self.n, self.fdr, self.revision, self.published = n, fdr, revision, published
        self.first, self.pages_asked = first, 0
        self.pay_date = (published - dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def get_flow(self, organization_id: str, fdr: str, revision: int, psp_id: str) -> dict:
        total = self.n * AMOUNT_CENTS
        return {
            "fdr": self.fdr,
            "revision": self.revision,
            "status": "PUBLISHED",
            "fdrDate": self.published.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "published": self.published.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "regulation": "SEPA-BENCH-0001",
            "regulationDate": self.published.date().isoformat(),
            "bicCodePouringBank": "UNCRITMMXXX",
            "sender": {"type": "ABI_CODE", "id": "SELBIT2B", "pspId": PSP, "pspName": "Bench"},
            "receiver": {"id": "APPBIT2B", "organizationId": EC, "organizationName": "Bench"},
            "totPayments": self.n,
            "sumPayments": f"{total // 100}.{total % 100:02d}",
        }

    def get_payments(
        self, organization_id: str, fdr: str, revision: int, psp_id: str, *, page: int, size: int
    ) -> dict[str, Any]:
        self.pages_asked += 1
        first = (page - 1) * size + self.first
        last = min(self.n, page * size) + self.first - 1
        data = [
            {
                "index": k,
                "iuv": iuv(k),
                "iur": iur(k),
                "idTransfer": 1,
                "pay": f"{AMOUNT_CENTS // 100}.{AMOUNT_CENTS % 100:02d}",
                "payStatus": "EXECUTED",
                "payDate": self.pay_date,
            }
            for k in range(first, last + 1)
        ]
        pages = (self.n + size - 1) // size
        return {
            "metadata": {"pageSize": size, "pageNumber": page, "totPage": pages},
            "count": self.n,
            "data": data,
        }


def floor(engine: sa.Engine, ente_id: int, fdr: str) -> float:
    """COPY the flow's entry rows again into a plain table and move their options with one
    UPDATE ... FROM, in one transaction; seconds spent in COPY, UPDATE and COMMIT."""
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE floor_entry (LIKE reporting_entry)")
            conn.commit()
            cur.execute(
                "SELECT e.* FROM reporting_entry e JOIN reporting_flow f ON f.id = e.flow_pk "
                "WHERE f.flow_id = %s ORDER BY e.id",
                (fdr,),
            )
            rows = cur.fetchall()
            conn.commit()
            started = time.perf_counter()
            with cur.copy("COPY floor_entry FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cur.execute(
                "UPDATE payment_option o SET status = 'reported', version = o.version + 1 "
                "FROM floor_entry e WHERE o.ente_id = %s AND o.iuv = e.iuv",
                (ente_id,),
            )
            conn.commit()
            return time.perf_counter() - started
    finally:
        raw.close()


def ingest(factory: Any, ente_id: int, first: int, n: int) -> Any:
    """Ingest one FdR 3 flow of ``n`` payments naming options ``first`` .. ``first + n - 1``,
    timed (recon_bench.Run)."""
    published = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=1)
    fdr = f"{published:%Y-%m-%d}{PSP}-B{uuid.uuid4().hex[:6]}"
    api = FdrStandIn(n, fdr, 1, published, first=first)

    def work() -> dict[str, Any]:
        with factory.begin() as session:
            ente = session.get(Ente, ente_id)
            outcome = fdr3.ingest_flow(
                session,
                api,  # type: ignore[arg-type]
                ente,
                fdr,
                1,
                PSP,
                published_at=published,
                size=PAGE,
            )
            return {"reported": outcome.reported, "anomalies": len(outcome.anomalies)}

    run = timed(work)
    run.result.update(fdr=fdr, pages_asked=api.pages_asked)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=100_000)
    parser.add_argument(
        "--small", type=int, default=10_000, help="the smaller flow, for the memory ratio"
    )
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument("--no-floor", action="store_true", help="skip the PostgreSQL floor")
    args = parser.parse_args()
    n, small = args.payments, args.small
    print(f"start: {load_average()}")
    with bench_database(keep=args.keep) as (engine, factory, ente_id):
        started = time.perf_counter()
        populate(engine, ente_id, n + small)
        print(
            f"{n + small} paid options with their receipts written in "
            f"{time.perf_counter() - started:.1f} s"
        )
        runs = []
        for first, size in ((n + 1, small), (1, n)):  # the small flow first: RSS only grows
            run = ingest(factory, ente_id, first, size)
            runs.append(run)
            with factory() as session:
                count = session.scalar(
                    sa.select(sa.func.count())
                    .select_from(PaymentOption)
                    .where(PaymentOption.ente_id == ente_id, PaymentOption.status == "reported")
                )
                opened = session.scalar(sa.select(sa.func.count()).select_from(Anomaly))
            r = run.result
            print(
                f"flow of {size:,} payments ({r['pages_asked']} pages of {PAGE}): "
                f"{r['reported']} options reported ({count} so far in the database), "
                f"{r['anomalies']} anomalies ({opened} stored); "
                f"{run.seconds:.1f} s wall, {run.cpu:.1f} s CPU (this process), "
                f"{size / run.seconds:,.0f} payments/s; RSS {run.rss_before:.0f} -> "
                f"{run.rss_max:.0f} MiB; {load_average()}"
            )
        low, high = runs
        print(memory_line("payments", high, n, low, small))
        if not args.no_floor:
            spent = floor(engine, ente_id, high.result["fdr"])
            print(
                f"PostgreSQL floor: COPY of the same {n} entry rows into a plain table + "
                f"one UPDATE ... FROM of their options: {spent:.2f} s, {n / spent:,.0f} rows/s"
            )
            print(f"ingest / floor: {high.seconds / spent:.1f}x the time")
            print(summary_line(f"FdR 3 flow of {n:,} payments", high, spent))


if __name__ == "__main__":
    main()
