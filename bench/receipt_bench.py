"""Durable paSendRTV2 at saturation against its floor: pgbench running the same transaction.

payhub runs as in production (``payhub web``'s server, granian, 2 processes x 4 threads; or
gunicorn's ``gthread`` workers with ``--server gunicorn``; ``payhub scheduler``, whose relay
loop sends the receipts' follow-up messages, as production.ini has it; PostgreSQL with
``synchronous_commit`` on, Redis): wrk sends paSendRTV2 for distinct payable notices, each an
OK receipt that payhub must store and settle before it answers. pgbench, with the same number
of clients, runs the transaction a receipt needs at the least: insert the receipt row with its
XML, update the option's state, insert its history row and its outbox row (written as sent:
pgbench sends nothing to Redis), commit. The machine is shared and its speed drifts, so the
two alternate: each round runs payhub on notices of its own, then pgbench on the same options,
and the ratio (payhub's receipts/s over pgbench's transactions/s, issue 21 asks for >= 0.3x)
is the median of the rounds'. Afterwards the database is checked: every OK answer has its
receipt stored, no notice was paid twice, no follow-up message left unsent.

    .venv/bin/python bench/receipt_bench.py [--seconds 5] [--rounds 5] [--clients 8]
        [--payments 30000] [--workers 2] [--threads 4] [--server granian|gunicorn]
        [--relay scheduler|inline]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from soap_bench import (  # the sibling benchmark's helpers
    ENV,
    REDIS,
    VERIFY,
    WHO,
    free_port,
    prepare_database,
    start,
    wrk,
)

EC = "77777777777"
TRANSFERS = [
    {
        "idTransfer": "1",
        "transferAmount": "10.00",
        "fiscalCodePA": EC,
        "IBAN": "IT60X0542811101000000123456",
        "remittanceInformation": "bench",
        "transferCategory": "9/0101108TS/",
        "metadata": None,
    }
]
DEBTOR = {
    "uniqueIdentifier": {
        "entityUniqueIdentifierType": "F",
        "entityUniqueIdentifierValue": "RSSMRA80A01H501U",
    },
    "fullName": "Mario Rossi",
}


def send_rt_v2(receipt_id: str, notice: str, iuv: str) -> str:
    """A paSendRTV2 as the Node sends it (the official sample's fields), for 10.00 EUR."""
    receipt = (
        f"<receiptId>{receipt_id}</receiptId><noticeNumber>{notice}</noticeNumber>"
        f"<fiscalCode>{EC}</fiscalCode><outcome>OK</outcome>"
        f"<creditorReferenceId>{iuv}</creditorReferenceId><paymentAmount>10.00"
        "</paymentAmount><description>bench</description><companyName>Comune"
        "</companyName><officeName>Tributi</officeName><debtor><uniqueIdentifier>"
        "<entityUniqueIdentifierType>F</entityUniqueIdentifierType>"
        "<entityUniqueIdentifierValue>RSSMRA80A01H501U</entityUniqueIdentifierValue>"
        "</uniqueIdentifier><fullName>Mario Rossi</fullName></debtor><transferList><transfer>"
        "<idTransfer>1</idTransfer><transferAmount>10.00</transferAmount>"
        f"<fiscalCodePA>{EC}</fiscalCodePA><companyName>Comune</companyName>"
        "<IBAN>IT60X0542811101000000123456</IBAN><remittanceInformation>bench"
        "</remittanceInformation><transferCategory>9/0101108TS/</transferCategory>"
        "</transfer></transferList><idPSP>BCITITMM</idPSP><pspFiscalCode>00000000000"
        "</pspFiscalCode><PSPCompanyName>PSP</PSPCompanyName><idChannel>BCITITMM_01"
        "</idChannel><channelDescription>app</channelDescription><paymentMethod>creditCard"
        "</paymentMethod><fee>1.00</fee><primaryCiIncurredFee>0.50</primaryCiIncurredFee>"
        "<idBundle>1</idBundle><idCiBundle>2</idCiBundle>"
        "<paymentDateTime>2026-12-07T10:48:22</paymentDateTime>"
        "<applicationDate>2026-12-07</applicationDate><transferDate>2026-12-08</transferDate>"
        "<standIn>false</standIn>"
    )
    return ENV.format(
        f"<pafn:paSendRTV2Request>{WHO}<receipt>{receipt}</receipt></pafn:paSendRTV2Request>"
    )


def lua_send_rt_v2(notices: list[tuple[str, str]], prefix: str = "rcpt") -> str:
    """Each request a different notice: thread ``tid`` of ``n`` takes every n-th one; receipt
    ids ``<prefix>-<thread>-<count>`` (a prefix per run: ids are unique per Ente)."""
    template = send_rt_v2("RID", "NOTICE", "IUV").replace("\\", "\\\\").replace('"', '\\"')
    rows = ",".join(f'{{"{n}","{i}"}}' for n, i in notices)
    return (
        f"local notices = {{{rows}}}\nlocal counter = 0\n"
        f'local template = "{template}"\n'
        "request = function()\n  counter = counter + 1\n"
        "  local k = ((counter - 1) * 2 + tid - 1) % #notices + 1\n"
        "  local n = notices[k]\n"
        f'  local rid = "{prefix}-" .. tid .. "-" .. counter\n'
        '  local body = template:gsub("RID", rid):gsub("NOTICE", n[1]):gsub("IUV", n[2])\n'
        '  return wrk.format("POST", nil, {["Content-Type"]="text/xml", '
        '["SOAPAction"]="paSendRTV2"}, body)\nend\n'
    )


# The least a receipt needs: its row (XML included), the option's new state, the history
# row and the follow-up message, in one transaction committed with synchronous_commit on
# (PostgreSQL's default, which payhub keeps). Parameters bound as psycopg binds payhub's.
PGBENCH_SCRIPT = """\\set oid random(:lo, :hi)
BEGIN;
INSERT INTO receipt (ec_fiscal_code, receipt_id, ente_id, option_id, primitive_version,
  notice_number, creditor_reference_id, payment_amount_cents, description, company_name,
  outcome, debtor, debtor_fiscal_code, id_psp, fee_cents, standin, test, transfers, raw_xml,
  received_at)
  VALUES ('77777777777', 'pgb-' || :client_id || '-' || :oid || '-' || random(), :ente,
  :oid, 2, '000000000000000000', 'iuv', 1000, 'bench', 'Comune', 'OK', :debtor,
  'RSSMRA80A01H501U', 'BCITITMM', 100, false, false, :transfers, :xml, now());
UPDATE payment_option SET status = 'paid', paid_cents = paid_cents + 1000, paid_at = now(),
  activation_expires_at = NULL WHERE id = :oid;
INSERT INTO state_transition (option_id, event, from_state, to_state, cause, created_at)
  VALUES (:oid, 'receive_receipt', 'payable', 'paid', 'receipt-pgbench', now());
INSERT INTO outbox_message (message_id, queue_name, actor_name, args, created_at, sent_at,
  lease_until, attempts)
  VALUES ('pgb-' || substr(gen_random_uuid()::text, 5), 'default', 'payment_status_changed',
  :args, now(), now(), now() + interval '60 seconds', 1);
END;
"""


def pgbench(
    dsn_url: str, seconds: int, clients: int, xml: str, bounds: tuple[int, int] | None = None
) -> float:
    """pgbench's transactions/s for PGBENCH_SCRIPT on the bench database, on the options
    whose ids are within ``bounds`` (default: all)."""
    if shutil.which("pgbench") is None:
        raise SystemExit("pgbench not found: it comes with PostgreSQL's server package")
    url = sa.engine.make_url(dsn_url)
    with sa.create_engine(dsn_url).connect() as conn:
        ente = conn.execute(sa.text("SELECT id FROM ente WHERE fiscal_code = :f"), {"f": EC})
        ente_id = ente.scalar_one()
        lo, hi = (
            bounds or conn.execute(sa.text("SELECT min(id), max(id) FROM payment_option")).one()
        )
    args = {"option_id": 1, "event": "receive_receipt", "from_state": "payable"}
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(PGBENCH_SCRIPT)
    variables = {
        "lo": lo,
        "hi": hi,
        "ente": ente_id,
        "xml": xml,
        "debtor": json.dumps(DEBTOR),
        "transfers": json.dumps(TRANSFERS),
        "args": json.dumps(args | {"to_state": "paid"}),
    }
    command = [
        "pgbench",
        "-n",
        "-M",
        "prepared",
        "-c",
        str(clients),
        "-j",
        "2",
        "-T",
        str(seconds),
        "-f",
        f.name,
        *(f"-D{k}={v}" for k, v in variables.items()),
        "-h",
        url.host or "127.0.0.1",
        "-p",
        str(url.port or 5432),
        "-U",
        url.username or "postgres",
        url.database or "",
    ]
    env = {**os.environ, "PGPASSWORD": url.password or ""}
    out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=seconds + 60)
    os.unlink(f.name)
    found = re.search(r"tps = ([\d.]+)", out.stdout)
    if found is None:
        raise SystemExit(f"pgbench failed: {out.stderr[-800:]}")
    return float(found.group(1))


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of process ``pid`` and its children now alive (gunicorn's
    workers), from /proc; 0 where there is no /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    for each in [pid, *map(int, children)]:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


class DatabaseCpu:
    """CPU time (user + system) this machine's PostgreSQL processes spend inside a block,
    from /proc, sampled every 0.2 s so that backends ending with their clients (pgbench's)
    are counted too. 0 where PostgreSQL runs elsewhere or there is no /proc."""

    def __init__(self) -> None:
        self.seconds = 0.0

    @staticmethod
    def _now() -> dict[int, float]:
        tick = os.sysconf("SC_CLK_TCK")
        found = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                name, fields = stat.read_text().rsplit(")", 1)
            except OSError:
                continue
            if name.endswith("(postgres"):
                values = fields.split()
                found[int(stat.parent.name)] = (int(values[11]) + int(values[12])) / tick
        return found

    def __enter__(self) -> DatabaseCpu:
        self._start = self._now()
        self._last = dict(self._start)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._done.wait(0.2):
            self._last.update(self._now())

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self._last.update(self._now())
        self.seconds = sum(v - self._start.get(pid, 0.0) for pid, v in self._last.items())


def stored_receipts(url: str) -> int:
    """Receipts payhub stored (pgbench's rows, ``pgb-...``, left out)."""
    with sa.create_engine(url).connect() as conn:
        sql = "SELECT count(*) FROM receipt WHERE receipt_id NOT LIKE 'pgb-%'"
        return int(conn.execute(sa.text(sql)).scalar_one())


def check_database(url: str, answered_ok: int) -> dict[str, int]:
    """What the database holds after payhub's runs: receipts, paid options, anomalies, and the
    follow-up messages nobody has sent."""
    with sa.create_engine(url).connect() as conn:

        def count(sql: str) -> int:
            return int(conn.execute(sa.text(sql)).scalar_one())

        kinds = conn.execute(sa.text("SELECT kind, count(*) FROM anomaly GROUP BY kind"))
        for kind, n in kinds:  # none expected: every receipt is for a payable notice
            print(f"anomaly {kind}: {n}")
        ours = "receipt_id NOT LIKE 'pgb-%'"
        return {
            "answered OK": answered_ok,
            "receipts stored": count(f"SELECT count(*) FROM receipt WHERE {ours}"),
            "options paid": count(
                f"SELECT count(*) FROM payment_option o WHERE EXISTS (SELECT 1 FROM receipt r "
                f"WHERE r.option_id = o.id AND {ours})"
            ),
            "anomalies": count("SELECT count(*) FROM anomaly"),
            "outbox rows": count(
                "SELECT count(*) FROM outbox_message WHERE actor_name = 'payment_status_changed' "
                "AND message_id NOT LIKE 'pgb-%'"
            ),
            "never sent": count(
                "SELECT count(*) FROM outbox_message WHERE lease_until IS NULL "
                "AND processed_at IS NULL AND dead_at IS NULL"
            ),
        }


def start_scheduler(url: str) -> subprocess.Popen:
    """``payhub scheduler`` (its relay loop sends the receipts' follow-up messages), on an
    .ini of the benchmark's settings."""
    env = {"DATABASE_URL": url, "REDIS_URL": REDIS}
    os.environ.update(env)
    from bench import payhub_wsgi

    ini = Path(tempfile.mkdtemp()) / "bench.ini"
    lines = [f"{k} = {v}" for k, v in payhub_wsgi.SETTINGS.items()]
    ini.write_text("[app:main]\nuse = call:payhub.app:main\n" + "\n".join(lines) + "\n")
    payhub = Path(sys.executable).parent / "payhub"
    return subprocess.Popen(
        [str(payhub), "-c", str(ini), "scheduler"],
        env={**os.environ, **env, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )


def settled(pid: int, timeout: float = 30.0) -> None:
    """Wait until process ``pid`` has started: its CPU time still for half a second."""
    deadline = time.monotonic() + timeout
    last = cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = cpu_seconds(pid)
        if now - last < 0.02:
            return
        last = now


def option_ids(url: str, notices: list[tuple[str, str]]) -> tuple[int, int]:
    """The lowest and highest option id of ``notices``."""
    with sa.create_engine(url).connect() as conn:
        row = conn.execute(
            sa.text("SELECT min(id), max(id) FROM payment_option WHERE notice_number = ANY(:n)"),
            {"n": [n for n, _ in notices]},
        ).one()
    return int(row[0]), int(row[1])


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--seconds", type=int, default=5, help="of each phase of each round")
    args.add_argument("--rounds", type=int, default=5, help="payhub then pgbench, each round")
    args.add_argument("--clients", type=int, default=8)
    args.add_argument("--payments", type=int, default=30000, help="payable notices created")
    args.add_argument("--threads", type=int, default=4, help="threads per worker process")
    args.add_argument("--workers", type=int, default=2, help="worker processes")
    args.add_argument("--server", choices=("granian", "gunicorn"), default="granian")
    args.add_argument(
        "--relay",
        choices=("scheduler", "inline"),
        default="scheduler",
        help="who sends a receipt's follow-up message: the scheduler's relay loop "
        "(production.ini) or the web process after its commit",
    )
    opts = args.parse_args()
    started = time.monotonic()
    url, notices = prepare_database(opts.payments, "payhub_receipt_bench")
    print(f"{len(notices)} payable notices in {time.monotonic() - started:.0f} s")
    seeded = stored_receipts(url)  # the demo data's own receipts
    port = free_port()
    if opts.server == "granian":
        options = ("--workers", str(opts.workers), "--blocking-threads", str(opts.threads))
    else:
        options = ("-w", str(opts.workers), "-k", "gthread", "--threads", str(opts.threads))
    defer = "true" if opts.relay == "scheduler" else "false"
    os.environ["PAYHUB_SOAP_DEFER_MESSAGES"] = defer
    server = start(
        "bench.payhub_wsgi:app",
        port,
        {"DATABASE_URL": url, "REDIS_URL": REDIS, "PAYHUB_SOAP_DEFER_MESSAGES": defer},
        options,
        server=opts.server,
    )
    scheduler = start_scheduler(url)
    settled(scheduler.pid)  # its start (imports, connections) is not the relay's work
    hub_url = f"http://127.0.0.1:{port}/soap/paForNode"
    size = len(notices) // opts.rounds
    rounds: list[dict[str, float]] = []
    web_cpu = relay_cpu = db_seconds = floor_db_seconds = floor_tx = 0.0
    try:
        for _ in range(20):  # warm up both workers (imports, schema, the station cache)
            requests.post(hub_url, data=VERIFY.encode(), headers={"Content-Type": "text/xml"})
        for r in range(opts.rounds):
            mine = notices[r * size : (r + 1) * size]
            before = stored_receipts(url)
            cpu_before = cpu_seconds(server.pid), cpu_seconds(scheduler.pid)
            with DatabaseCpu() as db_cpu:
                hub = wrk(hub_url, lua_send_rt_v2(mine, f"r{r}"), opts.seconds, opts.clients)
            web_cpu += cpu_seconds(server.pid) - cpu_before[0]
            relay_cpu += cpu_seconds(scheduler.pid) - cpu_before[1]
            db_seconds += db_cpu.seconds
            # the floor updates the options payhub has just paid (its UPDATE costs the same)
            with DatabaseCpu() as floor_db_cpu:
                floor = pgbench(
                    url,
                    opts.seconds,
                    opts.clients,
                    send_rt_v2("RID", "NOTICE", "IUV"),
                    bounds=option_ids(url, mine),
                )
            floor_db_seconds += floor_db_cpu.seconds
            floor_tx += floor * opts.seconds
            rounds.append(
                hub | {"floor": floor, "stored": stored_receipts(url) - before, "size": len(mine)}
            )
        time.sleep(1)  # the relay's last loop
    finally:
        server.terminate()
        scheduler.terminate()
        server.wait(10)
        scheduler.wait(10)
    answered_ok = sum(round(h["rps"] * opts.seconds) - h["errors"] for h in rounds)
    stored = check_database(url, answered_ok)
    load = os.getloadavg()
    print(
        f"\n{'round':6} {'scenario':28} {'per s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
        f"{'x floor':>8}"
    )
    for r, h in enumerate(rounds, start=1):
        print(
            f"{r:<6} {'pgbench receipt transaction':28} {h['floor']:9.0f} {'-':>8} {'-':>8} "
            f"{0:7} {1:8.2f}"
        )
        print(
            f"{r:<6} {'payhub paSendRTV2 (wrk)':28} {h['rps']:9.0f} {h['p50']:8.2f} "
            f"{h['p99']:8.2f} {h['errors']:7} {h['rps'] / h['floor']:8.2f}"
        )
    ratios = sorted(h["rps"] / h["floor"] for h in rounds)
    print(f"\nmedian of the rounds: {ratios[len(ratios) // 2]:.2f}x pgbench")
    print("\n" + ", ".join(f"{k}: {v}" for k, v in stored.items()))
    ours = stored["receipts stored"] - seeded
    if ours > 0:
        print(
            f"web CPU per receipt ({opts.server} workers, user + system): "
            f"{web_cpu / ours * 1000:.2f} ms"
        )
        print(
            f"scheduler CPU per receipt (its relay loop sends the messages): "
            f"{relay_cpu / ours * 1000:.2f} ms"
            + (" (idle: --relay inline)" if defer == "false" else "")
        )
        if db_seconds > 0 and floor_tx:
            print(
                f"PostgreSQL CPU (its processes, user + system): {db_seconds / ours * 1000:.2f} ms "
                f"per receipt, {floor_db_seconds / floor_tx * 1000:.2f} ms per pgbench transaction"
            )
    requests_made = sum(h["rps"] * opts.seconds for h in rounds)
    if requests_made:
        per_request = sum(h["cpu"] for h in rounds) / requests_made * 1000
        print(f"load generator CPU (wrk, user + system): {per_request:.2f} ms per request")
    if stored["anomalies"] or any(h["rps"] * opts.seconds > h["size"] for h in rounds):
        # each of wrk's two threads takes every other notice: one faster than the other goes
        # round its half first, and pays its notices a second time (a double payment, flagged)
        print(
            f"(a wrk thread went round its half of a round's notices: raise --payments above "
            f"{opts.payments})"
        )
    print(
        f"({opts.clients} clients each: wrk connections, pgbench clients; {opts.server} "
        f"{opts.workers} workers x {opts.threads} threads; follow-up messages sent by "
        f"{'the scheduler' if defer == 'true' else 'the web process'}; {opts.rounds} rounds of "
        f"{opts.seconds}s + {opts.seconds}s; {os.cpu_count()} CPUs shared by server, scheduler, "
        f"load, PostgreSQL and Redis; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})"
    )


if __name__ == "__main__":
    main()
