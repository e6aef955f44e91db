"""Benchmark: build one notice batch (default 10,000 positions) on PostgreSQL, chunk by chunk as
the actor does, in one process (one core) or in N lanes at once (``--processes N``, one process
each, as N workers would); print notices/s, notices/s per process, the CPU time per notice (user +
system of the lanes, from ``getrusage``: steadier than wall time on a shared machine), peak RSS
per process, and the RSS of the first process after each tenth of its work, which should stay
flat.

Then the floor, in the same run (the machine may be shared: compare the two, not figures from
different runs): for the same notices, the least a PDF notice can be. One page per notice
number with its notice number in text, its pagoPA QR code and, where the Ente has a postal
account, its Data Matrix, made and drawn by the same code (segno with ``hub.printing.qrmask``,
libdmtx or ppf-datamatrix, reportlab with the same embedded font and compression), the bytes
written to a file. Only that is timed (CPU of the process); the rows are read and the notices'
data made from them beforehand. The ratio notice CPU / floor CPU is what the notice's layout,
its texts and the batch's bookkeeping add.

    .venv/bin/python bench/notices_bench.py [--count 10000] [--chunk 200] [--processes 1] [--keep]
                                            [--no-floor]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import multiprocessing
import os
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy.orm import selectinload

from hub.db import make_engine, make_session_factory
from hub.logging import configure_logging
from hub.migrate import upgrade
from hub.models import DebtPosition, Ente, Intermediary, NoticeBatch, Station
from hub.positions.inputs import DebtPositionInput, OptionInput, TransferInput
from hub.positions.writer import create_position
from hub.printing import batches, codes, pdf
from hub.printing.data import NoticeDocument, document_of

PG_ADMIN = os.environ.get(
    "PAYHUB_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
IBAN = "IT60X0542811101000000123456"


def rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def load(factory, count: int) -> int:
    due = dt.date.today() + dt.timedelta(days=60)
    with factory.begin() as session:
        broker = Intermediary(broker_code="99999999999", name="Bench")
        station = Station(station_code="99999999999_01", intermediary=broker)
        ente = Ente(
            fiscal_code="00085240950",
            name="Comune di Benchmark",
            iban=IBAN,
            postal_iban="IT57N0760103200000016302093",
            cbill_code="A0EDT",
            segregation_code="01",
        )
        station.enti.append(ente)
        session.add_all([broker, station, ente])
        session.flush()
        ente_id = ente.id
    done = 0
    while done < count:
        with factory.begin() as session:
            ente = session.get(Ente, ente_id)
            for i in range(done, min(done + 1000, count)):
                amount = f"{10 + i % 500}.{i % 100:02d}"
                create_position(
                    session,
                    ente,
                    DebtPositionInput.of(
                        iupd=f"B-{i}",
                        debtor_type="F",
                        debtor_fiscal_code="RSSMRA80A01H501U",
                        debtor_name=f"Mario Rossi {i}",
                        description="TARI 2026 - tassa rifiuti",
                        options=[
                            OptionInput.of(
                                amount=amount,
                                due_date=due,
                                transfers=[
                                    TransferInput.of(
                                        amount=amount,
                                        remittance_information="TARI",
                                        category="9/0101108TS/",
                                        iban=IBAN,
                                    )
                                ],
                            )
                        ],
                    ),
                    publish=True,
                    cause="bench",
                )
            done = min(done + 1000, count)
    return ente_id


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def lane(
    url: str, batch_id: int, out: Path, chunk: int, count: int
) -> tuple[float, list[float], float, float]:
    """One lane, as one worker process runs it: chunks until nothing is left. Returns the RSS at
    start, after each tenth, the peak, and the CPU seconds (user + system) the lane used."""
    cpu0 = cpu_seconds()
    engine = make_engine(url, pool_size=2)
    factory = make_session_factory(engine)
    start, samples, done, step = rss_mib(), [], 0, max(chunk, count // 10)
    more = True
    while more:
        with factory.begin() as session:
            more = batches.run_chunk(session, batch_id, out, chunk=chunk)
        done += chunk if more else 0
        if more and done % step < chunk:
            samples.append(rss_mib())
    engine.dispose()
    return (
        start,
        samples,
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        cpu_seconds() - cpu0,
    )


def floor_pdf(document: NoticeDocument) -> bytes:
    """The floor: a PDF of a page per notice number (as the notice has) with the notice
    number, the QR code and the Data Matrix, nothing else."""
    buffer = io.BytesIO()
    canvas = Canvas(
        buffer,
        pagesize=A4,
        invariant=1,
        pageCompression=1,
        initialFontName=pdf.SANS,
        initialFontSize=8,
    )
    for notice in document.notices:
        canvas.setFont(pdf.SANS, 10)
        canvas.drawString(40, 800, notice.notice_number_grouped)
        pdf._symbol(canvas, codes.qr_matrix(notice.qr_payload), 40, 780, 2.0)
        postal = notice.datamatrix_payload
        if postal:
            pdf._symbol(canvas, codes.datamatrix_matrix(postal), 200, 780, 2.0)
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def floor(factory, ente_id: int, count: int, out: Path) -> tuple[float, int]:
    """CPU seconds (user + system) of the floor PDFs of the batch's notices, and how many
    PDFs (one per position, as the batch makes)."""
    out.mkdir(parents=True, exist_ok=True)
    pdf._register_fonts()
    # the symbols' caches hold the batch's last codes: start cold, as the batch did
    codes.datamatrix_matrix.cache_clear()
    codes._qr_symbol.cache_clear()
    pdf._runs.cache_clear()
    cpu, made = 0.0, 0
    for start in range(0, count, 1000):
        with factory() as session:
            ente = session.get(Ente, ente_id)
            positions = session.scalars(
                sa.select(DebtPosition)
                .where(DebtPosition.iupd.in_([f"B-{i}" for i in range(start, start + 1000)]))
                .order_by(DebtPosition.id)
                .options(selectinload(DebtPosition.options))
            ).all()
            documents = [document_of(ente, p) for p in positions]
        cpu0 = cpu_seconds()
        for k, document in enumerate(documents):
            (out / f"floor-{start + k}.pdf").write_bytes(floor_pdf(document))
        cpu += cpu_seconds() - cpu0
        made += len(documents)
    return cpu, made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=batches.CHUNK)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the database and the zip")
    parser.add_argument("--no-floor", action="store_true", help="skip the floor (minimal PDFs)")
    args = parser.parse_args()
    configure_logging("console", "WARNING")  # not one line per published notice

    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"payhub_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(admin.url.set(database=name).render_as_string(hide_password=False))
    out = Path(tempfile.mkdtemp(prefix="payhub-notices-"))
    try:
        upgrade(engine)
        factory = make_session_factory(engine)
        t0 = time.perf_counter()
        ente_id = load(factory, args.count)
        print(f"loaded {args.count} positions in {time.perf_counter() - t0:.1f} s")
        with factory.begin() as session:
            batch = batches.create_batch(
                session, session.get(Ente, ente_id), iupds=[f"B-{i}" for i in range(args.count)]
            )
            batch_id = batch.id
        url = engine.url.render_as_string(hide_password=False)
        engine.dispose()
        t0 = time.perf_counter()
        if args.processes == 1:
            reports = [lane(url, batch_id, out, args.chunk, args.count)]
        else:
            ctx = multiprocessing.get_context("fork")
            with ctx.Pool(args.processes) as pool:
                reports = pool.starmap(
                    lane, [(url, batch_id, out, args.chunk, args.count)] * args.processes
                )
        elapsed = time.perf_counter() - t0
        with make_session_factory(engine)() as session:
            batch = session.get(NoticeBatch, batch_id)
            zip_mib = (batch.zip_bytes or 0) / 2**20
            assert batch.rendered == args.count, batch.rendered
        rate = args.count / elapsed
        print(
            "Data Matrix by "
            + ("libdmtx" if codes._libdmtx is not None else "ppf-datamatrix (no libdmtx)")
        )
        print(
            f"batch of {args.count} notices, {args.processes} process(es): {elapsed:.1f} s, "
            f"{rate:.0f} notices/s, {rate / args.processes:.0f} per process; "
            f"zip {zip_mib:.0f} MiB"
        )
        cpu = sum(r[3] for r in reports)
        print(
            f"CPU (user + system, all lanes) {cpu:.1f} s: {1000 * cpu / args.count:.1f} ms per "
            f"notice, {args.count / cpu:.0f} notices per CPU-second"
        )
        start, samples, _, _ = reports[0]
        print(
            f"RSS of process 1 at start {start:.0f} MiB; every tenth: "
            + " ".join(f"{s:.0f}" for s in samples)
            + " MiB; peak per process: "
            + ", ".join(f"{r[2]:.0f}" for r in reports)
            + " MiB"
        )
        if not args.no_floor:
            floor_cpu, made = floor(
                make_session_factory(engine), ente_id, args.count, out / "floor"
            )
            print(
                f"floor (a page with the notice number, QR code and Data Matrix by the same "
                f"code, written to a file) for the same {made} notices: CPU {floor_cpu:.1f} s, "
                f"{made / floor_cpu:.0f} per CPU-second"
            )
            print(f"notices / floor: {cpu / floor_cpu:.1f}x the CPU")
        print(f"load average (1, 5, 15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        engine.dispose()
        if not args.keep:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
            import shutil

            shutil.rmtree(out, ignore_errors=True)
        else:
            print(f"kept database {name} and {out}")
        admin.dispose()


if __name__ == "__main__":
    main()
