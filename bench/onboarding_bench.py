"""Benchmark: bulk onboarding (hub.admin.onboarding) of a generated CSV, default 500 Enti with
5 payment services each (2,500 rows, the Enti spread over 5 stations: a segregation code is
unique per station), on a throwaway PostgreSQL database, as ``payhub admin import`` runs it:
the dry run (everything applied, then rolled back, with its per-row report), the load, and the
same file again (idempotent: every row ``unchanged``, nothing written). Goal: dry run + load
under 30 s.

Then the PostgreSQL floor, in the same run and database (the machine may be shared: compare the
two, not figures from different runs): the same Ente, station link and service rows inserted by
plain Core ``executemany`` in one transaction (rolled back), with none of the validation, scope
checks and audit events. The ratio load / floor is what the service layer adds.

    .venv/bin/python bench/onboarding_bench.py [--enti 500] [--services 5] [--keep]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bulk_bench import create_database, drop_database
from hub.admin import inputs as i
from hub.admin import onboarding
from hub.admin import service as svc
from hub.db import make_session_factory
from hub.logging import configure_logging
from hub.migrate import upgrade
from hub.models import AuditEvent, Ente, PaymentService, station_ente

BROKER = "90000000000"
STATIONS = [f"{BROKER}_{n:02d}" for n in range(1, 6)]
IBAN = "IT60X0542811101000000123456"
TAXONOMIES = ["9/0101101IM/", "9/0201109SE/", "9/0301105TS/", "9/0301104TS/", "9/0101108TS/"]
HEADER = (
    "fiscal_code;name;office;segregation_code;stations;iban;referente_name;referente_email;"
    "service_code;service_label;service_taxonomy;service_iban;service_kind"
)


def fiscal_code(n: int) -> str:
    return f"9{n:010d}"


def generate(path: Path, enti: int, services: int) -> None:
    lines = [HEADER]
    for n in range(enti):
        station = STATIONS[n // 100 % len(STATIONS)]
        for k in range(services):
            ente = (
                f"{fiscal_code(n)};Comune n. {n};Tributi;{n % 100:02d};{station};{IBAN};"
                f"Referente {n};referente{n}@comune.example.it"
                if k == 0
                else f"{fiscal_code(n)};;;;;;;"
            )
            kind = "spontaneous" if k == services - 1 else "precomputed"
            lines.append(
                f"{ente};S{k:02d};Servizio {k} del comune {n};{TAXONOMIES[k % 5]};{IBAN};{kind}"
            )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def run(factory: sa.orm.sessionmaker, data: bytes, *, dry_run: bool) -> tuple[float, dict]:
    started = time.perf_counter()
    with factory.begin() as session:
        entries = onboarding.read_file(data, "csv")
        report = onboarding.onboard(session, svc.CLI, entries, dry_run=dry_run)
    return time.perf_counter() - started, report.as_dict()["totals"]


def floor(engine: sa.Engine, enti: int, services: int) -> float:
    """Plain Core inserts of the same rows, one transaction, rolled back."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT station_code, id FROM station")).all()
        station_ids = {code: station_id for code, station_id in rows}
        conn.rollback()
        started = time.perf_counter()
        transaction = conn.begin()
        ids = (
            conn.execute(
                sa.insert(Ente).returning(Ente.id),
                [
                    {
                        "fiscal_code": f"8{n:010d}",
                        "name": f"Comune n. {n}",
                        "office": "Tributi",
                        "segregation_code": f"{n % 100:02d}",
                        "iban": IBAN,
                        "referente_name": f"Referente {n}",
                        "referente_email": f"referente{n}@comune.example.it",
                        "production": False,
                    }
                    for n in range(enti)
                ],
            )
            .scalars()
            .all()
        )
        conn.execute(
            sa.insert(station_ente),
            [
                {"station_id": station_ids[STATIONS[n // 100 % len(STATIONS)]], "ente_id": ente}
                for n, ente in enumerate(ids)
            ],
        )
        conn.execute(
            sa.insert(PaymentService),
            [
                {
                    "ente_id": ente,
                    "code": f"S{k:02d}",
                    "label": f"Servizio {k}",
                    "taxonomy": TAXONOMIES[k % 5],
                    "default_iban": IBAN,
                    "kind": "precomputed",
                    "active": True,
                }
                for ente in ids
                for k in range(services)
            ],
        )
        elapsed = time.perf_counter() - started
        transaction.rollback()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--enti", type=int, default=500)
    parser.add_argument("--services", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args()
    configure_logging(level="WARNING")
    admin, name, engine = create_database()
    try:
        upgrade(engine)
        factory = make_session_factory(engine)
        with factory.begin() as session:
            svc.create_intermediary(
                session, svc.CLI, i.IntermediaryInput(broker_code=BROKER, name="Bench")
            )
            for code in STATIONS:
                svc.create_station(
                    session, svc.CLI, i.StationInput(station_code=code, broker_code=BROKER)
                )
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "enti.csv"
            generate(path, args.enti, args.services)
            data = path.read_bytes()
        rows = args.enti * args.services
        print(f"file: {args.enti} Enti x {args.services} services = {rows} rows, {len(data)} bytes")
        dry, dry_totals = run(factory, data, dry_run=True)
        print(f"dry run: {dry:.2f} s ({rows / dry:.0f} rows/s) {dry_totals}")
        load, load_totals = run(factory, data, dry_run=False)
        print(f"load:    {load:.2f} s ({rows / load:.0f} rows/s) {load_totals}")
        with engine.connect() as conn:
            events = conn.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
        again, again_totals = run(factory, data, dry_run=False)
        with engine.connect() as conn:
            events_after = conn.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
        print(
            f"again:   {again:.2f} s {again_totals}; audit events written: {events_after - events}"
        )
        floor_s = floor(engine, args.enti, args.services)
        print(f"floor (Core executemany of the same rows): {floor_s:.2f} s")
        total = dry + load
        print(
            f"dry run + load: {total:.2f} s (goal < 30 s: {'met' if total < 30 else 'MISSED'}); "
            f"load / floor: {load / floor_s:.1f}x"
        )
        if load_totals["error"] or again_totals["created"] or again_totals["updated"]:
            print("UNEXPECTED: errors on load, or the second run changed something")
            raise SystemExit(1)
    finally:
        engine.dispose()
        drop_database(admin, name, keep=args.keep)


if __name__ == "__main__":
    main()
