"""Synthetic history at scale, written by PostgreSQL itself (INSERT ... SELECT over
generate_series: no row crosses the wire): positions with one option and one transfer each,
their history, spread over ``days`` days. Used by bench/scale_bench.py and by the tests that
check query plans on a large table (tests/hub/test_counters.py).

Option ``g`` (1..n) is payable when ``g % 10`` is 0-5, paid when 6-8, reported when 9; its
history says so (publish, receive_receipt, report), and the counters' trigger counts it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

STATE = "CASE WHEN g % 10 < 6 THEN 'payable' WHEN g % 10 < 9 THEN 'paid' ELSE 'reported' END"
AT = "(CAST(:now AS timestamp) - make_interval(secs => (g::bigint * 7919) % (:days * 86400)))"


def fill(
    conn: Any,
    ente_id: int,
    n: int,
    *,
    tag: str,
    segregation: str = "01",
    service_id: int | None = None,
    days: int = 1000,
    now: dt.datetime | None = None,
    debtors: int = 100_000,
    base: int | None = None,
) -> None:
    """Add ``n`` positions (IUPD ``<tag>-<g>``) to the Ente; ``debtors`` distinct debtors
    (fiscal code ``SCLDBT`` + 10 digits); IUV ``<segregation><base + g>``, 15 digits after
    the segregation code (by default ``base`` is 5 * 10**14 plus the Ente's options so far,
    so that fills add up). ``conn``: a SQLAlchemy connection or session."""
    if base is None:
        known = sa.text("SELECT count(*) FROM payment_option WHERE ente_id = :e")
        base = 500_000_000_000_000 + conn.execute(known, {"e": ente_id}).scalar()
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(tzinfo=None)
    args = {
        "ente": ente_id,
        "n": n,
        "tag": tag,
        "seg": segregation,
        "service": service_id,
        "days": days,
        "now": now,
        "debtors": debtors,
        "base": base,
    }
    conn.execute(
        sa.text(
            f"""
INSERT INTO debt_position (ente_id, service_id, iupd, debtor_type, debtor_fiscal_code,
    debtor_name, description, due_date, status, version, created_at, updated_at, published_at)
SELECT :ente, :service, :tag || '-' || g, 'F', 'SCLDBT' || lpad((g % :debtors)::text, 10, '0'),
    'Debtor ' || (g % :debtors), 'Scale test', CAST(:now AS date) + 30, {STATE}, 1,
    {AT}, {AT}, {AT}
FROM generate_series(1, :n) g
"""
        ),
        args,
    )
    # the new positions, with g recovered from the IUPD
    new = (
        "SELECT p.id AS position_id, p.created_at AS at, "
        "substr(p.iupd, length(:tag) + 2)::bigint AS g "
        "FROM debt_position p WHERE p.ente_id = :ente AND p.iupd LIKE :tag || '-%'"
    )
    conn.execute(
        sa.text(
            f"""
INSERT INTO payment_option (position_id, ente_id, notice_number, iuv, amount_cents, description,
    due_date, status, version, paid_cents, paid_at, created_at)
SELECT position_id, :ente, '3' || :seg || lpad((:base + g)::text, 15, '0'),
    :seg || lpad((:base + g)::text, 15, '0'),
    1000 + g % 9000, NULL, CAST(:now AS date) + 30, {STATE}, 1,
    CASE WHEN g % 10 >= 6 THEN 1000 + g % 9000 ELSE 0 END,
    CASE WHEN g % 10 >= 6 THEN at + interval '1 day' END, at
FROM ({new}) x
"""
        ),
        args,
    )
    options = (
        "SELECT o.id AS option_id, o.created_at AS at, o.amount_cents, "
        "substr(o.iuv, length(:seg) + 1)::bigint - :base AS g FROM payment_option o "
        "JOIN debt_position p ON p.id = o.position_id "
        "WHERE p.ente_id = :ente AND p.iupd LIKE :tag || '-%'"
    )
    conn.execute(
        sa.text(
            f"""
INSERT INTO transfer (option_id, id_transfer, amount_cents, beneficiary_fiscal_code, iban,
    remittance_information, category)
SELECT option_id, 1, amount_cents, '00000000000', 'IT60X0542811101000000123456',
    'Scale test', '9/0101108TS/'
FROM ({options}) x
"""
        ),
        args,
    )
    steps = (
        ("publish", "draft", "payable", "true", "at"),
        ("receive_receipt", "payable", "paid", "g % 10 >= 6", "at + interval '1 day'"),
        ("report", "paid", "reported", "g % 10 = 9", "at + interval '2 days'"),
    )
    for event, before, after, which, when in steps:
        conn.execute(
            sa.text(
                f"""
INSERT INTO state_transition (option_id, event, from_state, to_state, cause, created_at)
SELECT option_id, '{event}', '{before}', '{after}', 'bench:scale', {when}
FROM ({options}) x WHERE {which}
"""
            ),
            args,
        )
