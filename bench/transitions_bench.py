"""Benchmark: set-based transitions (hub.payments.setbased) on many options, against the
row-by-row path they replaced and a floor measured in the same run.

A throwaway PostgreSQL database with N positions of one option each (bench/scale_data.py: 60 %
payable, the rest paid or reported), the payable ones past their retention date. Figures:

- expiry: ``actors.expiry.expire_chunk`` until no chunk is left, one transaction per chunk as
  the actor runs it (the whole N * 0.6 options);
- bulk publish: the same number of draft positions published by
  ``hub.positions.bulk_changes.publish_positions``, ``CHUNK`` positions per transaction;
- before: the row-by-row path (each option locked, the machine fired, history and message
  written one at a time, ``payments.apply_event``) on a sample, rolled back;
- floor: the same rows written by hand in one transaction, rolled back: one UPDATE of the
  options, one INSERT ... SELECT of the history rows (and of the messages for expiry).

    .venv/bin/python bench/transitions_bench.py [--options 100000] [--sample 2000] [--keep]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bulk_bench import create_database, drop_database
from scale_data import fill

from actors import expiry
from hub import clock, payments
from hub.db import make_session_factory
from hub.logging import configure_logging
from hub.migrate import upgrade
from hub.models import DebtPosition, Ente, Intermediary, PaymentOption, Station
from hub.positions import bulk_changes
from workflows.payment import IllegalTransition

IBAN = "IT60X0542811101000000123456"
FLOOR_EXPIRE = """
WITH moved AS (
    UPDATE payment_option SET status = 'expired', version = version + 1
    WHERE status IN ('draft', 'payable') AND retention_date < :today RETURNING id, status
), history AS (
    INSERT INTO state_transition (option_id, event, from_state, to_state, cause, created_at)
    SELECT id, 'expire', 'payable', 'expired', 'floor', now() FROM moved
)
INSERT INTO outbox_message (message_id, queue_name, actor_name, args, created_at, attempts)
SELECT gen_random_uuid()::text, 'default', 'payment_status_changed',
    json_build_object('option_id', id, 'event', 'expire', 'from_state', 'payable',
        'to_state', 'expired'), now(), 0
FROM moved
"""
FLOOR_PUBLISH = """
WITH moved AS (
    UPDATE payment_option SET status = 'payable', version = version + 1
    WHERE status = 'draft' RETURNING id, position_id
), positions AS (
    UPDATE debt_position SET status = 'payable', version = version + 1, published_at = now()
    WHERE id IN (SELECT position_id FROM moved)
)
INSERT INTO state_transition (option_id, event, from_state, to_state, cause, created_at)
SELECT id, 'publish', 'draft', 'payable', 'floor', now() FROM moved
"""


def setup(factory: sa.orm.sessionmaker, n: int) -> int:
    with factory.begin() as session:
        broker = Intermediary(broker_code="99999999999", name="Bench")
        station = Station(station_code="99999999999_01", intermediary=broker)
        ente = Ente(fiscal_code="77777777777", name="Bench", iban=IBAN, segregation_code="01")
        station.enti.append(ente)
        session.add_all([broker, station, ente])
        session.flush()
        fill(session, ente.id, n, tag="E", days=300)
        overdue = clock.business_date(clock.now()) - dt.timedelta(days=2)
        session.execute(
            sa.text("UPDATE payment_option SET retention_date = :d WHERE status = 'payable'"),
            {"d": overdue},
        )
        return ente.id


def drafts(factory: sa.orm.sessionmaker, ente_id: int, n: int) -> list[int]:
    """``n`` new positions whose one option is a draft (no history yet)."""
    with factory.begin() as session:
        fill(session, ente_id, n, tag="D", days=300)
        ids = list(session.scalars(sa.select(DebtPosition.id).where(DebtPosition.iupd.like("D-%"))))
        session.execute(
            sa.text(
                "DELETE FROM state_transition WHERE option_id IN "
                "(SELECT id FROM payment_option WHERE position_id = ANY(:p))"
            ),
            {"p": ids},
        )
        session.execute(
            sa.text("UPDATE payment_option SET status = 'draft' WHERE position_id = ANY(:p)"),
            {"p": ids},
        )
        session.execute(
            sa.text(
                "UPDATE debt_position SET status = 'draft', published_at = NULL WHERE id = ANY(:p)"
            ),
            {"p": ids},
        )
        return sorted(ids)


def floor(factory: sa.orm.sessionmaker, sql: str) -> float:
    with factory() as session:
        t0 = time.perf_counter()
        session.execute(sa.text(sql), {"today": clock.business_date(clock.now())})
        session.flush()
        seconds = time.perf_counter() - t0
        session.rollback()
    return seconds


def row_by_row(factory: sa.orm.sessionmaker, option_ids: list[int], event: str) -> float:
    """Seconds per option of the old path, on ``option_ids``, rolled back."""
    with factory() as session:
        t0 = time.perf_counter()
        for option_id in option_ids:
            option = payments.lock_option_by_id(session, option_id)
            try:
                payments.apply_event(session, option, event, cause="bench")
            except IllegalTransition:
                continue
        session.flush()
        seconds = time.perf_counter() - t0
        session.rollback()
    return seconds / max(len(option_ids), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--options", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=2000)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    configure_logging("console", "WARNING")  # both paths without their log lines
    admin, name, engine = create_database()
    try:
        upgrade(engine)
        factory = make_session_factory(engine)
        ente_id = setup(factory, args.options)
        with factory() as session:
            overdue = list(
                session.scalars(
                    sa.select(PaymentOption.id)
                    .where(PaymentOption.status == "payable")
                    .order_by(PaymentOption.id)
                )
            )
        rows = []
        expire_floor = floor(factory, FLOOR_EXPIRE)
        old = row_by_row(factory, overdue[: args.sample], "expire")
        t0 = time.perf_counter()
        expired, more = 0, True
        while more:
            with factory.begin() as session:
                count, more = expiry.expire_chunk(session)
                expired += count
        seconds = time.perf_counter() - t0
        rows.append(("expiry", expired, seconds, old * expired, expire_floor))

        positions = drafts(factory, ente_id, len(overdue))
        with factory() as session:
            draft_options = list(
                session.scalars(
                    sa.select(PaymentOption.id)
                    .where(PaymentOption.status == "draft")
                    .limit(args.sample)
                )
            )
        publish_floor = floor(factory, FLOOR_PUBLISH)
        old = row_by_row(factory, draft_options, "publish")
        t0 = time.perf_counter()
        published = 0
        for start in range(0, len(positions), bulk_changes.CHUNK):
            with factory.begin() as session:
                part = positions[start : start + bulk_changes.CHUNK]
                published += len(bulk_changes.publish_positions(session, part, cause="bench"))
        seconds = time.perf_counter() - t0
        rows.append(("bulk publish", published, seconds, old * published, publish_floor))

        print(f"\n{args.options:,} options; row-by-row timed on {args.sample:,}, scaled")
        print(
            f"{'figure':<14} {'options':>9} {'set-based':>10} {'options/s':>10} "
            f"{'row-by-row':>11} {'floor':>8} {'x floor':>8} {'speed-up':>9}"
        )
        for label, count, took, before, base in rows:
            print(
                f"{label:<14} {count:>9,} {took:>9.2f}s {count / took:>10,.0f} "
                f"{before:>10.1f}s {base:>7.2f}s {took / base:>7.1f}x {before / took:>8.1f}x"
            )
    finally:
        engine.dispose()
        drop_database(admin, name, keep=args.keep)


if __name__ == "__main__":
    main()
