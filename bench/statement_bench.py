"""Benchmark: a bank statement (camt.053) of 100,000 credits reconciled, and one credit
reconciling a flow of 100,000 payments.

On a throwaway PostgreSQL database: one Ente; ``S + N`` flows of one payment each and one flow
of ``N`` payments, every payment an option already ``reported`` by its flow (positions,
options, flows and entries written with COPY, not timed). Then, each through
``hub.reconciliation.statements.load_statement`` (what ``payhub reconcile statement`` and the
/ops upload run) reading a camt.053.001.02 file as it comes, timed with its commit:

1. a statement of S credits (default 10,000), each for one of the small flows;
2. a statement of N credits (default 100,000), each for one of the other small flows;
3. a statement of one credit for the large flow: N options reconciled by one credit.

Prints, for each, wall seconds, CPU seconds of this process, credits/s or options/s and the
RSS sampled every 50 ms; then the memory ratio (peak RSS at N credits against the peak at S:
close to 1 when memory is flat). Then the PostgreSQL floor, in the same run and database: a
plain COPY of N credit rows into a table without indexes (LIKE bank_credit) and one
``UPDATE payment_option ... FROM`` moving N options, in one transaction.

    .venv/bin/python bench/statement_bench.py [--credits 100000] [--small 10000] [--keep]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recon_bench import (  # the throwaway database, timing, RSS, load average
    AMOUNT_CENTS,
    IBAN,
    PSP,
    bench_database,
    load_average,
    memory_line,
    summary_line,
    timed,
)

from hub.models import Ente, PaymentOption
from hub.reconciliation import statements

DAY = dt.date(2026, 12, 4)
CAMT = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"


def flow_name(k: int) -> str:
    return f"2026-12-04{PSP}-{k:09d}"


def populate(engine: sa.Engine, ente_id: int, small_flows: int, big: int) -> None:
    """``small_flows`` flows of one reported option each (flows 1..small_flows), then one flow
    (number 0) of ``big`` reported options."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    n = small_flows + big
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        with conn.cursor() as cur:
            with cur.copy(
                "COPY debt_position (id, ente_id, iupd, debtor_type, debtor_fiscal_code, "
                "debtor_name, description, due_date, status, version, created_at, updated_at) "
                "FROM STDIN"
            ) as copy:
                for k in range(1, n + 1):
                    copy.write_row(
                        (
                            k,
                            ente_id,
                            f"ST-{k:07d}",
                            "F",
                            "RSSMRA80A01H501U",
                            "Mario",
                            "TARI",
                            DAY,
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
                            k,
                            k,
                            ente_id,
                            f"3{k:017d}",
                            f"{k:017d}",
                            AMOUNT_CENTS,
                            DAY,
                            "reported",
                            3,
                            AMOUNT_CENTS,
                            now,
                            now,
                        )
                    )
            with cur.copy(
                "COPY reporting_flow (id, ente_id, flow_id, flow_datetime, psp_id, "
                "settlement_id, settlement_date, declared_count, declared_total_cents, "
                "computed_count, computed_total_cents, status, source, received_at) FROM STDIN"
            ) as copy:
                stamp = dt.datetime(2026, 12, 4, 8, 0)
                copy.write_row(
                    (
                        big + small_flows + 1,
                        ente_id,
                        flow_name(0),
                        stamp,
                        PSP,
                        "SEPA-0",
                        DAY,
                        big,
                        big * AMOUNT_CENTS,
                        big,
                        big * AMOUNT_CENTS,
                        "received",
                        "soap",
                        now,
                    )
                )
                for k in range(1, small_flows + 1):
                    copy.write_row(
                        (
                            k,
                            ente_id,
                            flow_name(k),
                            stamp,
                            PSP,
                            f"SEPA-{k}",
                            DAY,
                            1,
                            AMOUNT_CENTS,
                            1,
                            AMOUNT_CENTS,
                            "received",
                            "soap",
                            now,
                        )
                    )
            with cur.copy(
                "COPY reporting_entry (flow_pk, iuv, iur, transfer_index, amount_cents, "
                "outcome_code, outcome_date, match, option_id) FROM STDIN"
            ) as copy:
                for k in range(1, n + 1):
                    flow_pk = k if k <= small_flows else big + small_flows + 1
                    copy.write_row(
                        (
                            flow_pk,
                            f"{k:017d}",
                            f"IUR{k:012d}",
                            1,
                            AMOUNT_CENTS,
                            "0",
                            DAY,
                            "matched",
                            k,
                        )
                    )
            for table in ("debt_position", "payment_option", "reporting_flow", "reporting_entry"):
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
                cur.execute(f"ANALYZE {table}")
        conn.commit()
    finally:
        raw.close()


def write_camt(path: Path, flows: range, cents: int) -> int:
    """A camt.053.001.02 with one booked credit per flow number in ``flows``; its size."""
    head = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{CAMT}"><BkToCstmrStmt>'
        "<GrpHdr><MsgId>BENCH</MsgId><CreDtTm>2026-12-05T08:00:00</CreDtTm></GrpHdr>"
        "<Stmt><Id>STMT-BENCH</Id><CreDtTm>2026-12-05T08:00:00</CreDtTm>"
        f"<Acct><Id><IBAN>{IBAN}</IBAN></Id></Acct>"
    )
    amount = f"{cents // 100}.{cents % 100:02d}"
    with path.open("w", encoding="utf-8") as out:
        out.write(head)
        for k in flows:
            out.write(
                f'<Ntry><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd>'
                "<Sts>BOOK</Sts><BookgDt><Dt>2026-12-05</Dt></BookgDt>"
                "<ValDt><Dt>2026-12-05</Dt></ValDt><BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT"
                "</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd><NtryDtls><TxDtls>"
                f"<Refs><AcctSvcrRef>RIV{k:012d}</AcctSvcrRef><EndToEndId>RIV{k:012d}"
                "</EndToEndId></Refs><RltdPties><Dbtr><Nm>Banca di prova</Nm></Dbtr>"
                "</RltdPties><RmtInf><Ustrd>/PUR/LGPE-RIVERSAMENTO/URI/"
                f"{flow_name(k)}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>"
            )
        out.write("</Stmt></BkToCstmrStmt></Document>")
    return path.stat().st_size


def load(factory: Any, ente_id: int, path: Path) -> Any:
    """Load the statement at ``path``, timed (recon_bench.Run)."""

    def work() -> dict[str, Any]:
        with factory.begin() as session, path.open("rb") as stream:
            ente = session.get(Ente, ente_id)
            outcome = statements.load_statement(session, ente, stream, source_file=path.name)
            return {
                "added": len(outcome.added),
                "matched": outcome.matched,
                "reconciled": outcome.reconciled,
                "anomalies": len(outcome.anomalies),
            }

    return timed(work)


def floor(engine: sa.Engine, n: int) -> float:
    """COPY n credit rows into a plain table and move n options with one UPDATE ... FROM."""
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE floor_credit (LIKE bank_credit)")
            cur.execute("UPDATE payment_option SET status = 'reported'")
            conn.commit()
            now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            started = time.perf_counter()
            with cur.copy(
                "COPY floor_credit (id, ente_id, fingerprint, value_date, amount_cents, "
                "description, flow_id, source_file, source_line, status, received_at) FROM STDIN"
            ) as copy:
                for k in range(1, n + 1):
                    copy.write_row(
                        (
                            k,
                            1,
                            f"{k:064d}",
                            DAY,
                            AMOUNT_CENTS,
                            flow_name(k),
                            flow_name(k),
                            "floor",
                            k,
                            "matched",
                            now,
                        )
                    )
            cur.execute(
                "UPDATE payment_option o SET status = 'reconciled', version = o.version + 1 "
                "FROM floor_credit c WHERE o.id = c.id"
            )
            conn.commit()
            return time.perf_counter() - started
    finally:
        raw.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--credits", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args()
    n, small = args.credits, args.small
    print(f"start: {load_average()}")
    with bench_database(keep=args.keep) as (engine, factory, ente_id):
        started = time.perf_counter()
        populate(engine, ente_id, small + n, n)
        print(
            f"{small + n:,} one-payment flows and one flow of {n:,} payments, "
            f"{small + 2 * n:,} reported options, written in {time.perf_counter() - started:.1f} s"
        )
        with tempfile.TemporaryDirectory() as tmp:
            runs = []
            cases = (
                (f"{small:,} credits", range(1, small + 1), AMOUNT_CENTS),
                (f"{n:,} credits", range(small + 1, small + n + 1), AMOUNT_CENTS),
                (f"1 credit for a flow of {n:,}", range(0, 1), n * AMOUNT_CENTS),
            )
            for label, flows, cents in cases:
                path = Path(tmp) / f"camt-{len(runs)}.xml"
                size = write_camt(path, flows, cents)
                run = load(factory, ente_id, path)
                runs.append(run)
                r = run.result
                print(
                    f"{label} (camt.053, {size / 2**20:.1f} MiB): {r['added']} added, "
                    f"{r['matched']} matched, {r['reconciled']:,} options reconciled, "
                    f"{r['anomalies']} anomalies; {run.seconds:.1f} s wall, "
                    f"{run.cpu:.1f} s CPU (this process), "
                    f"{r['reconciled'] / run.seconds:,.0f} options/s; RSS "
                    f"{run.rss_before:.0f} -> {run.rss_max:.0f} MiB; {load_average()}"
                )
        low, high, big = runs
        print(memory_line("credits", high, n, low, small))
        with factory() as session:
            left = session.scalar(
                sa.select(sa.func.count()).where(PaymentOption.status != "reconciled")
            )
        print(f"options not reconciled at the end: {left}")
        spent = floor(engine, n)
        print(
            f"PostgreSQL floor: COPY of {n:,} credit rows into a plain table + one UPDATE ... "
            f"FROM of {n:,} options: {spent:.2f} s"
        )
        print(
            f"{n:,} credits / floor: {high.seconds / spent:.1f}x; one credit for {n:,} "
            f"options / floor: {big.seconds / spent:.1f}x"
        )
        print(summary_line(f"statement of {n:,} credits", high, spent))
        print(summary_line(f"1 credit for a flow of {n:,}", big, spent))


if __name__ == "__main__":
    main()
