"""What the two delivery queues share (webhook deliveries, hub.notify.webhooks; daily-file
deliveries, hub.dailyfile.delivery): the sweep's claim of the rows that are due.

A row is due when its queue's ``due`` condition holds and its ``next_attempt_at`` has come.
The rows are taken oldest due first, locked with SKIP LOCKED (two sweeps never take the same
row), and postponed by ``lease``, so the next sweep sends one again only if this send came to
nothing (a Redis wipe, a dead worker); a retrying row becomes pending (to be sent now: an
early copy of its delayed message no longer applies)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.models import DailyFileDelivery, WebhookDelivery


def take_due(
    session: Session,
    model: type[DailyFileDelivery] | type[WebhookDelivery],
    due: sa.ColumnElement[bool] | sa.TextClause,
    *,
    lease: dt.timedelta,
    limit: int,
    now: dt.datetime,
) -> list[int]:
    """Ids of at most ``limit`` rows of ``model`` due at ``now``, each postponed by ``lease``."""
    ids = list(
        session.scalars(
            sa.select(model.id)
            .where(due, model.next_attempt_at <= now)
            .order_by(model.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if ids:
        session.execute(
            sa.update(model)
            .where(model.id.in_(ids))
            .values(
                next_attempt_at=now + lease,
                status=sa.case((model.status == "retrying", "pending"), else_=model.status),
            ),
            execution_options={"synchronize_session": False},
        )
    return ids
