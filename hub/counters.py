"""The dashboard's counters (``state_count``): folding each key's delta rows into one.

A trigger on ``state_transition`` (migration 0024) appends one row per (Ente, service, state,
Italian day) for every statement that writes history, in that statement's transaction: the
counts are exact whoever writes the history (one receipt, a COPY of a bulk publish, a
set-based reconciliation) and no writer waits on another for a counter row. Readers sum the
rows of a key; ``compact`` (a scheduler job) keeps them few."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub import clock
from hub.models import StateCount

DEFAULT_DAYS = 7  # delta rows are written for today (rarely yesterday); a week is a margin

_PG_COMPACT = sa.text(
    """
WITH keys AS (
    SELECT ente_id, service_id, state, day FROM state_count WHERE day >= :since
    GROUP BY 1, 2, 3, 4 HAVING count(*) > 1
), gone AS (
    DELETE FROM state_count s USING keys k
    WHERE s.ente_id = k.ente_id AND s.service_id IS NOT DISTINCT FROM k.service_id
      AND s.state = k.state AND s.day = k.day AND s.day >= :since
    RETURNING s.ente_id, s.service_id, s.state, s.day, s.options, s.amount_cents
)
INSERT INTO state_count (ente_id, service_id, state, day, options, amount_cents)
SELECT ente_id, service_id, state, day, sum(options), sum(amount_cents) FROM gone
GROUP BY 1, 2, 3, 4
"""
)


def compact(session: Session, *, since: dt.date | None = None) -> int:
    """Fold the rows of each key from ``since`` (default: the last week; ``date.min``: all)
    into one; returns the number of keys folded. Safe beside writers and another compactor
    on PostgreSQL (a row is folded by the one transaction that deleted it; rows not yet
    committed are left for the next run)."""
    since = since or clock.today() - dt.timedelta(days=DEFAULT_DAYS)
    if session.get_bind().dialect.name == "postgresql":
        result = cast(sa.CursorResult[Any], session.execute(_PG_COMPACT, {"since": since}))
        return result.rowcount or 0
    # SQLite: the transaction holds the database's write lock (BEGIN IMMEDIATE)
    key = (StateCount.ente_id, StateCount.service_id, StateCount.state, StateCount.day)
    groups = session.execute(
        sa.select(
            *key,
            sa.func.sum(StateCount.options),
            sa.func.sum(StateCount.amount_cents),
            sa.func.max(StateCount.id),
        )
        .where(StateCount.day >= since)
        .group_by(*key)
        .having(sa.func.count() > 1)
    ).all()
    for ente_id, service_id, state, day, options, cents, last in groups:
        session.execute(
            sa.delete(StateCount).where(
                StateCount.ente_id == ente_id,
                StateCount.service_id.is_(None)
                if service_id is None
                else StateCount.service_id == service_id,
                StateCount.state == state,
                StateCount.day == day,
                StateCount.id <= last,
            )
        )
        session.add(
            StateCount(
                ente_id=ente_id,
                service_id=service_id,
                state=state,
                day=day,
                options=options,
                amount_cents=cents,
            )
        )
    session.flush()
    return len(groups)
