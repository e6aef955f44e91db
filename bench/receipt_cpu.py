"""CPU per paSendRTV2 in process: payhub's whole WSGI app against the least Python can do.

No HTTP server and no load generator (as ``soap_cpu.py`` for paVerify): payhub's WSGI app is
called in a loop with OK receipts for distinct payable notices, and the process's CPU time
(``time.process_time``: PostgreSQL's and Redis's share are not in it) is divided by the
number of receipts. The floor, in the same run and process: the transaction the receipt
benchmark gives pgbench (``receipt_bench.PGBENCH_SCRIPT``: the receipt row with its XML, the
option's new state, the history row, the outbox row, committed), sent by psycopg itself as
prepared statements with the values bound, one transaction per receipt; no SOAP, no checks.
Steadier than receipts/s on a shared machine; it shows where a change to the receipt path
moved the cost. The receipts' follow-up messages are sent as production.ini has it (the
scheduler's relay loop, in batches), in this process and inside the timed part;
``PAYHUB_SOAP_DEFER_MESSAGES=false`` sends each after its receipt's commit instead.

    .venv/bin/python bench/receipt_cpu.py [--receipts 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from receipt_bench import DEBTOR, EC, PGBENCH_SCRIPT, TRANSFERS, send_rt_v2  # noqa: E402
from soap_bench import REDIS, prepare_database  # noqa: E402

from bench.soap_cpu import caller  # noqa: E402

WARM = 100


def floor_statements() -> list[str]:
    """PGBENCH_SCRIPT's four statements, its variables as psycopg parameters."""
    body = PGBENCH_SCRIPT.split("BEGIN;", 1)[1].rsplit("END;", 1)[0]
    statements = [s.strip() for s in body.split(";") if s.strip()]
    out = []
    for sql in statements:
        sql = sql.replace("random()", "%(n)s").replace(":client_id", "0")
        for name in ("oid", "ente", "debtor", "transfers", "xml", "args"):
            sql = sql.replace(f":{name}", f"%({name})s")
        out.append(sql)
    return out


def _relay(app: object) -> Callable[[], None]:
    """What the scheduler's relay loop does with the messages the receipts left unsent
    (``payhub.soap_defer_messages``, as production.ini): sent in batches, marked sent."""
    import dramatiq

    from actors.outbox import relay_unsent

    factory = app.registry["db.session_factory"]  # type: ignore[attr-defined]

    def relay() -> None:
        while relay_unsent(dramatiq.get_broker(), factory):
            pass

    return relay


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--receipts", type=int, default=2000)
    opts = args.parse_args()
    n = opts.receipts
    url, notices = prepare_database(2 * (n + WARM), "payhub_receipt_cpu")
    os.environ.update(DATABASE_URL=url, REDIS_URL=REDIS)

    import psycopg

    from bench import payhub_wsgi

    app = payhub_wsgi.app
    hub_notices, floor_notices = notices[: n + WARM], notices[n + WARM :]
    calls = [
        caller(app, "/soap/paForNode", send_rt_v2(f"cpu-{k}", notice, iuv).encode(), "paSendRTV2")
        for k, (notice, iuv) in enumerate(hub_notices)
    ]
    for call in calls[:WARM]:  # connections, prepared statements, caches
        assert b"<outcome>OK</outcome>" in call()
    relay = _relay(app)
    relay()  # the warm-up's messages
    t0 = time.process_time()
    for call in calls[WARM:]:
        call()
    relay()  # as the scheduler's relay loop, in this process: its CPU is counted
    hub = (time.process_time() - t0) / n * 1000

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    xml = send_rt_v2("RID", "NOTICE", "IUV")
    with psycopg.connect(dsn) as conn:
        ente = conn.execute("SELECT id FROM ente WHERE fiscal_code = %s", (EC,)).fetchone()[0]
        ids = [
            conn.execute(
                "SELECT o.id FROM payment_option o WHERE o.notice_number = %s", (notice,)
            ).fetchone()[0]
            for notice, _ in floor_notices
        ]
        conn.commit()
        statements = floor_statements()
        fixed = {
            "ente": ente,
            "debtor": json.dumps(DEBTOR),
            "transfers": json.dumps(TRANSFERS),
            "xml": xml,
        }
        args_of = {"option_id": 1, "event": "receive_receipt", "from_state": "payable"}

        def floor_one(k: int, option_id: int) -> None:
            values = fixed | {
                "oid": option_id,
                "n": str(k),
                "args": json.dumps(args_of | {"to_state": "paid"}),
            }
            for sql in statements:
                conn.execute(sql, values, prepare=True)
            conn.commit()

        for k, option_id in enumerate(ids[:WARM]):
            floor_one(k, option_id)
        t0 = time.process_time()
        for k, option_id in enumerate(ids[WARM:], start=WARM):
            floor_one(k, option_id)
        floor = (time.process_time() - t0) / n * 1000
    print(f"\nCPU per paSendRTV2 in process ({n} receipts each):")
    print(f"  floor  {floor:.3f} ms  (the receipt's transaction sent by psycopg itself)")
    print(f"  payhub {hub:.3f} ms  ({hub / floor:.1f}x the floor's CPU)")


if __name__ == "__main__":
    main()
