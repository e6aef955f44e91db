"""SOAP benchmark: the floor (bare lxml WSGI paVerify) against payhub's paVerify and paSendRT.

Each server runs under gunicorn with 2 workers on PostgreSQL (database ``payhub_bench``,
recreated) and Redis; load comes from wrk (closed loop, a separate process) and from a
paced Python client at 50 req/s (pagoPA GPD's constant profile). Loopback only, bounded.

    .venv/bin/python bench/soap_bench.py [--seconds 10] [--connections 8]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get(
    "PAYHUB_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS = os.environ.get("PAYHUB_BENCH_REDIS", "redis://127.0.0.1:6379/14")
DB = "payhub_bench"
N_POSITIONS = 1000
ENV = (
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:pafn="http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd"><soapenv:Body>{}'
    "</soapenv:Body></soapenv:Envelope>"
)
WHO = (
    "<idPA>77777777777</idPA><idBrokerPA>77777777777</idBrokerPA>"
    "<idStation>77777777777_01</idStation>"
)
VERIFY = ENV.format(
    f"<pafn:paVerifyPaymentNoticeReq>{WHO}<qrCode><fiscalCode>77777777777"
    "</fiscalCode><noticeNumber>311111111112222222</noticeNumber></qrCode>"
    "</pafn:paVerifyPaymentNoticeReq>"
)


def get_payment(notice: str) -> str:
    return ENV.format(
        f"<pafn:paGetPaymentV2Request>{WHO}<qrCode><fiscalCode>77777777777"
        f"</fiscalCode><noticeNumber>{notice}</noticeNumber></qrCode>"
        "<amount>10.00</amount></pafn:paGetPaymentV2Request>"
    )


def send_rt(receipt_id: str, notice: str, iuv: str) -> str:
    receipt = (
        f"<receiptId>{receipt_id}</receiptId><noticeNumber>{notice}</noticeNumber>"
        "<fiscalCode>77777777777</fiscalCode><outcome>OK</outcome>"
        f"<creditorReferenceId>{iuv}</creditorReferenceId><paymentAmount>10.00"
        "</paymentAmount><description>bench</description><companyName>Comune"
        "</companyName><debtor><uniqueIdentifier><entityUniqueIdentifierType>F"
        "</entityUniqueIdentifierType><entityUniqueIdentifierValue>RSSMRA80A01H501U"
        "</entityUniqueIdentifierValue></uniqueIdentifier><fullName>Mario Rossi"
        "</fullName></debtor><transferList><transfer><idTransfer>1</idTransfer>"
        "<transferAmount>10.00</transferAmount><fiscalCodePA>77777777777</fiscalCodePA>"
        "<IBAN>IT60X0542811101000000123456</IBAN><remittanceInformation>bench"
        "</remittanceInformation><transferCategory>9/0101108TS/</transferCategory>"
        "</transfer></transferList><idPSP>BCITITMM</idPSP><PSPCompanyName>PSP"
        "</PSPCompanyName><idChannel>BCITITMM_01</idChannel><channelDescription>app"
        "</channelDescription><fee>1.00</fee>"
    )
    return ENV.format(f"<pafn:paSendRTReq>{WHO}<receipt>{receipt}</receipt></pafn:paSendRTReq>")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_database(count: int = N_POSITIONS, name: str = DB) -> tuple[str, list[tuple[str, str]]]:
    """Recreate the bench database ``name``, migrate, seed ``count`` positions; return its
    URL and their payable notices (notice number, IUV)."""
    sys.path.insert(0, str(ROOT))
    import datetime as dt
    import logging

    import structlog

    # the seeding's own transitions are not the benchmark's output
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    from sqlalchemy.orm import Session

    from hub.db import make_engine
    from hub.migrate import upgrade
    from hub.models import Ente
    from hub.positions.inputs import DebtPositionInput, OptionInput, TransferInput
    from hub.positions.writer import create_position
    from hub.seed import DEMO_EC, DEMO_IBAN, seed_demo

    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    admin.dispose()
    engine = make_engine(url)
    try:
        upgrade(engine)
    except Exception as exc:  # a migration being written elsewhere: the models will do
        print(f"migration failed ({type(exc).__name__}); creating tables from the models")
        import hub.models  # noqa: F401
        from hub.db import Base

        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        Base.metadata.create_all(engine)
    notices = []
    with Session(engine) as s:
        seed_demo(s)
        ec = s.scalars(sa.select(Ente).where(Ente.fiscal_code == DEMO_EC)).one()
        for i in range(count):
            pos = create_position(
                s,
                ec,
                DebtPositionInput.of(
                    iupd=f"BENCH-{i}",
                    debtor_type="F",
                    debtor_fiscal_code="RSSMRA80A01H501U",
                    debtor_name="Mario Rossi",
                    description="bench",
                    options=[
                        OptionInput.of(
                            amount="10.00",
                            due_date=dt.date.today() + dt.timedelta(days=30),
                            transfers=[
                                TransferInput.of(
                                    amount="10.00",
                                    remittance_information="bench",
                                    category="9/0101108TS/",
                                    iban=DEMO_IBAN,
                                )
                            ],
                        )
                    ],
                ),
                publish=True,
                cause="bench",
            )
            notices.append((pos.options[0].notice_number, pos.options[0].iuv))
        s.commit()
    # the statistics a database in service has (autovacuum would gather them within a minute):
    # a statement prepared on the freshly loaded tables would otherwise keep a plan made for
    # empty ones, a sequential scan of every option per request
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("ANALYZE"))
    engine.dispose()
    return url, notices


def start(
    app: str,
    port: int,
    env: dict[str, str],
    options: tuple[str, ...] = (),
    server: str = "gunicorn",
) -> subprocess.Popen:
    """``app`` (module:attribute) under ``server``: gunicorn (two workers, ``options``
    added) or granian (WSGI, ``options`` are granian's)."""
    if server == "granian":
        command = [
            *("granian", "--interface", "wsgi", "--http", "1", "--no-ws", "--log-level", "warning"),
            *options,
            *("--host", "127.0.0.1", "--port", str(port), "--working-dir", str(ROOT), app),
        ]
    else:
        command = [
            *("gunicorn", "-w", "2", *options, "-b", f"127.0.0.1:{port}"),
            *("--log-level", "warning", "--chdir", str(ROOT), app),
        ]
    proc = subprocess.Popen(
        [sys.executable, "-m", *command],
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"{app} did not start")


# Appended to every scenario's script (the floor's too, so they pay the same): an answer
# without <outcome>OK is a KO, HTTP 200 or not, and counts as an error.
KO_COUNTER = """
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)  -- each thread's own number, a global in its script
end
function init(args) ko = 0 end
function response(status, headers, body)
  if not string.find(body, "<outcome>OK", 1, true) then ko = ko + 1 end
end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("ko") end
  io.write("KO answers: " .. total .. "\\n")
end
"""


def wrk(url: str, lua: str, seconds: int, connections: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua + KO_COUNTER)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", f.name, url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
    ).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    os.unlink(f.name)

    def ms(label: str) -> float:
        m = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    ko = re.search(r"KO answers: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": ms("50%"),
        "p99": ms("99%"),
        "errors": max(int(errors.group(1)) if errors else 0, int(ko.group(1))),
        "socket_errors": socket_errors.group(1) if socket_errors else "",
        # wrk's own CPU (user + system): the load generator shares the machine
        "cpu": after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime,
    }


def lua_post(body: str, action: str) -> str:
    escaped = body.replace("\\", "\\\\").replace('"', '\\"')
    return (
        f'wrk.method = "POST"\nwrk.body = "{escaped}"\n'
        f'wrk.headers["Content-Type"] = "text/xml"\nwrk.headers["SOAPAction"] = "{action}"\n'
    )


def lua_get_payment(notices: list[tuple[str, str]]) -> str:
    """Activations cycling over the bench's notices (an open activation may be renewed)."""
    template = get_payment("NOTICE").replace("\\", "\\\\").replace('"', '\\"')
    rows = ",".join(f'"{n}"' for n, _ in notices)
    return (
        f"local notices = {{{rows}}}\nlocal counter = 0\n"
        f'local template = "{template}"\n'
        "request = function()\n  counter = counter + 1\n"
        '  local body = template:gsub("NOTICE", notices[(counter % #notices) + 1])\n'
        '  return wrk.format("POST", nil, {["Content-Type"]="text/xml", '
        '["SOAPAction"]="paGetPaymentV2"}, body)\nend\n'
    )


def lua_send_rt(notices: list[tuple[str, str]], prefix: str) -> str:
    template = send_rt("RID", "NOTICE", "IUV").replace("\\", "\\\\").replace('"', '\\"')
    rows = ",".join(f'{{"{n}","{i}"}}' for n, i in notices)
    return (
        f"local notices = {{{rows}}}\nlocal counter = 0\n"
        f'local template = "{template}"\n'
        "request = function()\n  counter = counter + 1\n"
        "  local n = notices[(counter % #notices) + 1]\n"
        f'  local rid = "{prefix}-" .. tid .. "-" .. counter\n'
        '  local body = template:gsub("RID", rid):gsub("NOTICE", n[1]):gsub("IUV", n[2])\n'
        '  return wrk.format("POST", nil, {["Content-Type"]="text/xml", '
        '["SOAPAction"]="paSendRT"}, body)\nend\n'
    )


def paced(url: str, bodies, rate: int, seconds: int) -> dict[str, float]:
    """Open loop: one request every 1/rate s whatever the answers take."""
    latencies, errors = [], 0
    session_pool = cf.ThreadPoolExecutor(32)

    def one(body: str) -> tuple[float, bool]:
        t0 = time.perf_counter()
        r = requests.post(url, data=body.encode(), headers={"Content-Type": "text/xml"}, timeout=10)
        ok = r.status_code == 200 and b"<outcome>OK" in r.content
        return (time.perf_counter() - t0) * 1000, ok

    futures, start_at = [], time.perf_counter()
    for i in range(rate * seconds):
        delay = start_at + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        futures.append(session_pool.submit(one, bodies(i)))
    for f in futures:
        ms, ok = f.result()
        latencies.append(ms)
        errors += not ok
    session_pool.shutdown()
    q = statistics.quantiles(latencies, n=100)
    return {"rps": rate, "p50": q[49], "p99": q[98], "errors": errors}


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--seconds", type=int, default=10)
    args.add_argument("--connections", type=int, default=8)
    opts = args.parse_args()
    url, notices = prepare_database()
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    floor_port, hub_port = free_port(), free_port()
    procs = [
        start("bench.floor_app:app", floor_port, {"BENCH_PG_DSN": dsn}),
        start("bench.payhub_wsgi:app", hub_port, {"DATABASE_URL": url, "REDIS_URL": REDIS}),
    ]
    floor_url = f"http://127.0.0.1:{floor_port}/"
    hub_url = f"http://127.0.0.1:{hub_port}/soap/paForNode"
    try:
        for u in (floor_url, hub_url):  # warm up both workers of each
            for _ in range(20):
                requests.post(u, data=VERIFY.encode(), headers={"Content-Type": "text/xml"})
        rows = {
            "floor paVerify (wrk)": wrk(
                floor_url, lua_post(VERIFY, "paVerifyPaymentNotice"), opts.seconds, opts.connections
            ),
            "payhub paVerify (wrk)": wrk(
                hub_url, lua_post(VERIFY, "paVerifyPaymentNotice"), opts.seconds, opts.connections
            ),
            # activations before any receipt: a paid notice can no longer be activated
            "payhub paGetPaymentV2 (wrk)": wrk(
                hub_url, lua_get_payment(notices), opts.seconds, opts.connections
            ),
            "payhub paVerify @50/s": paced(hub_url, lambda i: VERIFY, 50, opts.seconds),
            "payhub paGetPaymentV2 @50/s": paced(
                hub_url, lambda i: get_payment(notices[i % len(notices)][0]), 50, opts.seconds
            ),
            "payhub paSendRT (wrk)": wrk(
                hub_url, lua_send_rt(notices, "wrk"), opts.seconds, opts.connections
            ),
            "payhub paSendRT @50/s": paced(
                hub_url,
                lambda i: send_rt(f"paced-{i}", *notices[i % len(notices)]),
                50,
                opts.seconds,
            ),
        }
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
    floor = rows["floor paVerify (wrk)"]["rps"]
    print(
        f"\n{'scenario':30} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'x floor':>8}"
    )
    for name, r in rows.items():
        ratio = f"{r['rps'] / floor:.2f}" if "wrk" in name else "-"
        print(
            f"{name:30} {r['rps']:9.0f} {r['p50']:8.2f} {r['p99']:8.2f} {r['errors']:7} {ratio:>8}"
        )
    print(
        f"\n(gunicorn -w 2 each, {opts.connections} wrk connections, {opts.seconds}s, "
        f"{os.cpu_count()} CPUs shared by servers, load, PostgreSQL and Redis)"
    )


if __name__ == "__main__":
    main()
