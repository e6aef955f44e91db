"""Benchmark: the daily file of one Ente's day of 10,000 and of 100,000 payments.

On a throwaway PostgreSQL database: one Ente, one service, a day of 10,000 and another day of
100,000 paid notices (position, option, receipt with a ~2 KB receipt XML each), written with
COPY (not timed). Each day's zip is then built by a fresh process (``--child build``) through
the entry point the actor uses (``hub.dailyfile.files.produce``: fingerprint, two streamed
passes, zip written to disk, row committed), and its time and peak RSS (getrusage of that
process) are printed.

The floor, in the same run and database (the machine may be shared: compare figures of one
run): a fresh process (``--child floor``) that only streams the same day's receipt XML out of
PostgreSQL and throws it away. Time ratio build / floor is what building the zip adds; the
memory is flat when the peak RSS of the 100,000-payment build is about that of the 10,000 one
(and of the floor process), not ten times it.

    .venv/bin/python bench/dailyfile_bench.py [--small 10000] [--large 100000] [--keep]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bulk_bench import create_database, drop_database  # the same server as the others

from hub.clock import ROME
from hub.db import make_engine, make_session_factory
from hub.migrate import upgrade
from hub.models import Ente, Intermediary, PaymentService, ServiceKind, Station

EC = "77777777777"
SMALL_DAY = dt.date(2026, 12, 1)
LARGE_DAY = dt.date(2026, 12, 2)
LIMIT_SECONDS = 60.0


def receipt_xml(k: int) -> str:
    """A paSendRTV2 receipt of realistic size (~2 KB)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?><pafn:paSendRTV2Req '
        'xmlns:pafn="http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd">'
        f"<idPA>{EC}</idPA><idBrokerPA>{EC}</idBrokerPA><idStation>{EC}_01</idStation>"
        f"<receipt><receiptId>IUR{k:020d}</receiptId><noticeNumber>3{k:017d}</noticeNumber>"
        f"<fiscalCode>{EC}</fiscalCode><outcome>OK</outcome>"
        f"<creditorReferenceId>{k:017d}</creditorReferenceId><paymentAmount>120.00</paymentAmount>"
        "<description>TARI 2026 - rata unica - utenza domestica</description>"
        "<companyName>Comune di Benchmark</companyName><officeName>Ufficio Tributi</officeName>"
        "<debtor><uniqueIdentifier><entityUniqueIdentifierType>F</entityUniqueIdentifierType>"
        "<entityUniqueIdentifierValue>RSSMRA80A01H501U</entityUniqueIdentifierValue>"
        "</uniqueIdentifier><fullName>Mario Rossi</fullName><streetName>Via Roma</streetName>"
        "<civicNumber>1</civicNumber><postalCode>00100</postalCode><city>Roma</city>"
        "<stateProvinceRegion>RM</stateProvinceRegion><country>IT</country></debtor>"
        "<transferList><transfer><idTransfer>1</idTransfer><transferAmount>120.00"
        f"</transferAmount><fiscalCodePA>{EC}</fiscalCodePA>"
        "<IBAN>IT60X0542811101000000123456</IBAN><remittanceInformation>TARI 2026"
        "</remittanceInformation><transferCategory>9/0101101IM/</transferCategory>"
        "</transfer></transferList><idPSP>BCITITMM</idPSP><pspFiscalCode>00799960158"
        "</pspFiscalCode><pspCompanyName>Intesa Sanpaolo</pspCompanyName>"
        "<idChannel>00799960158_01</idChannel><channelDescription>app</channelDescription>"
        "<paymentMethod>CP</paymentMethod><fee>1.00</fee>"
        "<paymentDateTime>2026-12-02T10:00:00</paymentDateTime>"
        "<applicationDate>2026-12-02</applicationDate><transferDate>2026-12-03</transferDate>"
        "</receipt></pafn:paSendRTV2Req>"
    )


def populate(engine: sa.Engine, ente_id: int, service_id: int, day: dt.date, n: int, base: int):
    """N positions of the service, each with one paid option and its receipt (COPY)."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=ROME).astimezone(dt.UTC)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        with conn.cursor() as cur:
            with cur.copy(
                "COPY debt_position (id, ente_id, service_id, iupd, debtor_type, "
                "debtor_fiscal_code, debtor_name, description, due_date, status, version, "
                "created_at, updated_at) FROM STDIN"
            ) as copy:
                for k in range(base + 1, base + n + 1):
                    copy.write_row(
                        (k, ente_id, service_id, f"DF-{k:08d}", "F", "RSSMRA80A01H501U",
                         "Mario Rossi", "TARI 2026", day, "paid", 1, now, now)
                    )  # fmt: skip
            with cur.copy(
                "COPY payment_option (id, position_id, ente_id, notice_number, iuv, "
                "amount_cents, due_date, status, version, paid_cents, paid_at, created_at) "
                "FROM STDIN"
            ) as copy:
                for k in range(base + 1, base + n + 1):
                    copy.write_row(
                        (k, k, ente_id, f"3{k:017d}", f"{k:017d}", 12000, day, "paid", 2,
                         12000, now, now)
                    )  # fmt: skip
            with cur.copy(
                "COPY receipt (ec_fiscal_code, receipt_id, ente_id, option_id, "
                "primitive_version, notice_number, creditor_reference_id, payment_amount_cents, "
                "outcome, standin, debtor_fiscal_code, payer_fiscal_code, id_psp, "
                "psp_company_name, payment_method, fee_cents, description, payment_date_time, "
                "raw_xml, received_at) FROM STDIN"
            ) as copy:
                for i, k in enumerate(range(base + 1, base + n + 1)):
                    paid = start + dt.timedelta(seconds=i * 86_000 / n)
                    copy.write_row(
                        (EC, f"IUR{k:020d}", ente_id, k, 2, f"3{k:017d}", f"{k:017d}", 12000,
                         "OK", False, "RSSMRA80A01H501U", "VRDGPP80A01H501X", "BCITITMM",
                         "Intesa Sanpaolo", "CP", 100, "TARI 2026 - rata unica",
                         paid.replace(tzinfo=None), receipt_xml(k),
                         (paid + dt.timedelta(seconds=5)).replace(tzinfo=None))
                    )  # fmt: skip
        conn.commit()
    finally:
        raw.close()
    with engine.begin() as c:
        c.execute(sa.text("ANALYZE"))


def child(mode: str, url: str, ente_id: int, day: str, directory: str) -> None:
    """Run in a fresh process: build the day's file (or only read its receipts: the floor)."""
    from hub.dailyfile import files

    engine = make_engine(url)
    factory = make_session_factory(engine)
    started = time.perf_counter()
    result: dict = {}
    if mode == "build":
        with factory.begin() as session:
            ente = session.get(Ente, ente_id)
            file, _ = files.produce(
                session, ente, "TARI", dt.date.fromisoformat(day), Path(directory)
            )
            result = {"payments": file.payments, "size": file.size, "sha256": file.sha256}
    else:
        with factory.begin() as session:
            query = (
                files._joined(sa.select(files.Receipt.raw_xml), ente_id, dt.date.fromisoformat(day))
                .order_by(files.PAID_AT)
                .execution_options(yield_per=2000)
            )
            count = 0
            with open(os.devnull, "wb") as sink:
                for xml in session.scalars(query):
                    sink.write(xml.encode())
                    count += 1
            result = {"payments": count}
    result["seconds"] = time.perf_counter() - started
    engine.dispose()
    print(json.dumps(result))


def run_child(mode: str, url: str, ente_id: int, day: dt.date, directory: str) -> dict:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", mode, "--url", url, "--ente", str(ente_id),
         "--day", day.isoformat(), "--dir", directory],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )  # fmt: skip
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"the {mode} process failed ({proc.returncode})")
    result = json.loads(out.decode().strip().splitlines()[-1])
    result["peak_rss_mib"] = usage.ru_maxrss / 1024
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument("--child", choices=("build", "floor"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--ente", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--day", help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.url, args.ente, args.day, args.dir)
        return

    admin, name, engine = create_database()
    url = engine.url.render_as_string(hide_password=False)
    try:
        upgrade(engine)
        with make_session_factory(engine).begin() as session:
            broker = Intermediary(broker_code=EC, name="Bench")
            station = Station(station_code=f"{EC}_01", intermediary=broker)
            ente = Ente(fiscal_code=EC, name="Comune di Benchmark", segregation_code="01")
            station.enti.append(ente)
            session.add_all([broker, station, ente])
            session.flush()
            service = PaymentService(
                ente_id=ente.id, code="TARI", label="TARI", taxonomy="9/0101101IM/",
                kind=ServiceKind.PRECOMPUTED,
            )  # fmt: skip
            session.add(service)
            session.flush()
            ente_id, service_id = ente.id, service.id
        print(f"loading {args.small:,} + {args.large:,} payments (COPY, not timed) ...")
        populate(engine, ente_id, service_id, SMALL_DAY, args.small, 0)
        populate(engine, ente_id, service_id, LARGE_DAY, args.large, args.small)
        with tempfile.TemporaryDirectory() as directory:
            rows = []
            for label, day, n in (
                ("small", SMALL_DAY, args.small),
                ("large", LARGE_DAY, args.large),
            ):
                floor = run_child("floor", url, ente_id, day, directory)
                build = run_child("build", url, ente_id, day, directory)
                assert build["payments"] == n == floor["payments"]
                rows.append((label, n, floor, build))
            print()
            print(f"{'payments':>10} {'build s':>8} {'floor s':>8} {'ratio':>6} "
                  f"{'build RSS MiB':>14} {'floor RSS MiB':>14} {'zip MiB':>8}")  # fmt: skip
            for _, n, floor, build in rows:
                print(
                    f"{n:>10,} {build['seconds']:>8.2f} {floor['seconds']:>8.2f} "
                    f"{build['seconds'] / floor['seconds']:>6.2f} {build['peak_rss_mib']:>14.1f} "
                    f"{floor['peak_rss_mib']:>14.1f} {build['size'] / 2**20:>8.1f}"
                )
            small, large = rows[0][3], rows[1][3]
            growth = large["peak_rss_mib"] / small["peak_rss_mib"]
            print()
            verdict = "OK" if large["seconds"] <= LIMIT_SECONDS else "OVER"
            print(
                f"{args.large:,} payments built in {large['seconds']:.1f} s "
                f"(limit {LIMIT_SECONDS:.0f} s: {verdict})"
            )
            print(
                f"peak RSS {args.large:,} / {args.small:,} payments = {growth:.2f} "
                f"(x{args.large / args.small:.0f} payments; flat memory keeps this near 1)"
            )
    finally:
        engine.dispose()
        drop_database(admin, name, keep=args.keep)


if __name__ == "__main__":
    main()
