"""Adding figures to the SLA monitor's counting rows: answer times (``sla_minute``) and outcome
counts (``sla_outcome``), created when absent. Both their writers use it: the recorder's flush
of finished minutes (sla_monitor.recorder, the process's host:pid as source) and the pruning's
hourly sums (hub.sla.retention, source ``pruned``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.models.sla import SlaMinute, SlaOutcomeMinute


def add_times(
    row: SlaMinute, count: int, over: int, total: float, most: float, histogram: Sequence[int]
) -> None:
    """Add answer times to ``row``: counts and seconds summed, the max kept, the histogram
    summed bucket by bucket."""
    row.count += count
    row.over_threshold += over
    row.total_seconds += total
    row.max_seconds = max(row.max_seconds, most)
    row.histogram = [a + b for a, b in zip(row.histogram, histogram, strict=True)]


def add_minute(
    session: Session,
    minute: dt.datetime,
    operation: str,
    source: str,
    count: int,
    over: int,
    total: float,
    most: float,
    histogram: Sequence[int],
) -> SlaMinute:
    """Add answer times to the ``sla_minute`` row of (minute, operation, source), created with
    them when absent; returns the row."""
    row = session.scalars(
        sa.select(SlaMinute).where(
            SlaMinute.minute == minute,
            SlaMinute.operation == operation,
            SlaMinute.source == source,
        )
    ).one_or_none()
    if row is None:
        row = SlaMinute(
            minute=minute,
            operation=operation,
            source=source,
            count=count,
            over_threshold=over,
            total_seconds=total,
            max_seconds=most,
            histogram=list(histogram),
        )
        session.add(row)
    else:
        add_times(row, count, over, total, most, histogram)
    return row


def add_outcome(
    session: Session,
    minute: dt.datetime,
    operation: str,
    station: str,
    ente: str,
    outcome: str,
    source: str,
    n: int,
) -> None:
    """Add ``n`` answers to the ``sla_outcome`` row of that key, created when absent."""
    row = session.scalars(
        sa.select(SlaOutcomeMinute).where(
            SlaOutcomeMinute.minute == minute,
            SlaOutcomeMinute.operation == operation,
            SlaOutcomeMinute.station == station,
            SlaOutcomeMinute.ente == ente,
            SlaOutcomeMinute.outcome == outcome,
            SlaOutcomeMinute.source == source,
        )
    ).one_or_none()
    if row is None:
        session.add(
            SlaOutcomeMinute(
                minute=minute,
                operation=operation,
                station=station,
                ente=ente,
                outcome=outcome,
                source=source,
                count=n,
            )
        )
    else:
        row.count += n
