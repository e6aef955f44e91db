"""Reconciliation anomalies as a monitored figure: what is open, by kind, by Ente and by age;
those open beyond ``payhub.sla_anomaly_max_working_days`` working days (the help desk's
calendar) flagged; the daily trend (opened, resolved, open at the end of each day).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.calendar import BusinessCalendar
from hub.clock import ROME
from hub.models import Anomaly, Ente

AGE_BANDS = ((1, "≤ 1"), (5, "2–5"), (15, "6–15"), (None, "> 15"))  # working days


@dataclass
class AnomalyFigure:
    open: int = 0
    old: int = 0  # open beyond the limit
    limit_working_days: int = 5
    by_kind: dict[str, int] = field(default_factory=dict)
    by_ente: dict[str, int] = field(default_factory=dict)
    by_age: dict[str, int] = field(default_factory=dict)
    old_items: list[dict[str, Any]] = field(default_factory=list)
    # (day, opened that day, resolved that day, open at its end)
    trend: list[tuple[str, int, int, int]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _band(days: int) -> str:
    for limit, label in AGE_BANDS:
        if limit is None or days <= limit:
            return label
    raise AssertionError("unreachable")


def measure(
    session: Session,
    calendar: BusinessCalendar,
    now: dt.datetime,
    *,
    limit_working_days: int = 5,
    ente_ids: Collection[int] | None = None,
    trend_days: int = 30,
) -> AnomalyFigure:
    """The anomalies open at ``now`` (of ``ente_ids`` only, when given) and the trend of the
    last ``trend_days`` days (Italian dates)."""
    figure = AnomalyFigure(limit_working_days=limit_working_days)
    scope = sa.true() if ente_ids is None else Anomaly.ente_id.in_(list(ente_ids))
    rows = session.execute(
        sa.select(Anomaly, Ente.fiscal_code)
        .outerjoin(Ente, Ente.id == Anomaly.ente_id)
        .where(Anomaly.resolved_at.is_(None), scope)
        .order_by(Anomaly.created_at)
    ).all()
    kinds: Counter[str] = Counter()
    enti: Counter[str] = Counter()
    ages: Counter[str] = Counter({label: 0 for _, label in AGE_BANDS})
    for anomaly, code in rows:
        figure.open += 1
        kinds[anomaly.kind] += 1
        enti[code or "—"] += 1
        days = calendar.business_days_between(anomaly.created_at, now)
        ages[_band(days)] += 1
        if days > limit_working_days:
            figure.old += 1
            if len(figure.old_items) < 100:
                figure.old_items.append(
                    {
                        "id": anomaly.id,
                        "kind": anomaly.kind,
                        "ente": code,
                        "created_at": anomaly.created_at,
                        "working_days": days,
                    }
                )
    figure.by_kind = dict(kinds.most_common())
    figure.by_ente = dict(enti.most_common())
    figure.by_age = dict(ages)
    figure.trend = trend(session, now, days=trend_days, ente_ids=ente_ids)
    return figure


def trend(
    session: Session, now: dt.datetime, *, days: int = 30, ente_ids: Collection[int] | None = None
) -> list[tuple[str, int, int, int]]:
    """Per Italian day of the last ``days`` (today included): opened, resolved, open at its
    end (or now, today)."""
    today = now.astimezone(ROME).date()
    first = today - dt.timedelta(days=days - 1)
    start = dt.datetime.combine(first, dt.time(0), tzinfo=ROME).astimezone(dt.UTC)
    scope = sa.true() if ente_ids is None else Anomaly.ente_id.in_(list(ente_ids))
    opened_before = session.scalar(
        sa.select(sa.func.count()).where(
            scope,
            Anomaly.created_at < start,
            sa.or_(Anomaly.resolved_at.is_(None), Anomaly.resolved_at >= start),
        )
    )
    opened: Counter[dt.date] = Counter()
    resolved: Counter[dt.date] = Counter()
    for created, done in session.execute(
        sa.select(Anomaly.created_at, Anomaly.resolved_at).where(
            scope,
            sa.or_(Anomaly.created_at >= start, Anomaly.resolved_at >= start),
        )
    ):
        if created >= start:
            opened[created.astimezone(ROME).date()] += 1
        if done is not None and done >= start:
            resolved[done.astimezone(ROME).date()] += 1
    result = []
    open_now = int(opened_before or 0)
    for n in range(days):
        day = first + dt.timedelta(days=n)
        open_now += opened[day] - resolved[day]
        result.append((day.isoformat(), opened[day], resolved[day], open_now))
    return result
