"""Response-time breaches: fewer than 98 % of an operation's answers within 2 s.

Every minute (actor ``sla_evaluate_breaches``) the last ``window`` finished minutes of
``sla_minute`` are added up per operation, over every web process. With at least
``min_requests`` answers, a share within 2 s below ``target`` opens an ``sla_breach`` (one open
per operation; a structured warning ``sla.breach_opened``); a share back at or above target
closes it. Fewer answers than the minimum change nothing: too few to judge.

The newest minute is read ``grace`` seconds after it ends, so every process has written it
(the recorder writes finished minutes every few seconds). A minute in which every answer is
slow is therefore seen about 1–2 minutes after it ends; a degradation just below the target
needs the whole window to tip the share.

Settings (all optional):
  payhub.sla_target_share            default 0.98
  payhub.sla_window_minutes          default 5
  payhub.sla_min_requests            default 20 (answers in the window)
  payhub.sla_breach_grace_seconds    default 15
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from hub.config import Config, as_config
from hub.models.sla import SlaBreach, SlaMinute

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class BreachPolicy:
    target: float = 0.98
    window: dt.timedelta = dt.timedelta(minutes=5)
    min_requests: int = 20
    grace: dt.timedelta = dt.timedelta(seconds=15)

    @classmethod
    def from_settings(cls, settings: Config | dict[str, Any]) -> BreachPolicy:
        config = as_config(settings)
        return cls(
            target=config.sla_target_share,
            window=dt.timedelta(minutes=config.sla_window_minutes),
            min_requests=config.sla_min_requests,
            grace=dt.timedelta(seconds=config.sla_breach_grace_seconds),
        )

    def window_at(self, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        """[start, end) of the finished minutes judged at ``now``."""
        end = (now - self.grace).replace(second=0, microsecond=0)
        return end - self.window, end


def answers(session: Session, start: dt.datetime, end: dt.datetime) -> dict[str, tuple[int, int]]:
    """Per operation: (answers, answers within 2 s) in the minutes of [start, end)."""
    rows = session.execute(
        sa.select(
            SlaMinute.operation, sa.func.sum(SlaMinute.count), sa.func.sum(SlaMinute.over_threshold)
        )
        .where(SlaMinute.minute >= start, SlaMinute.minute < end)
        .group_by(SlaMinute.operation)
    )
    return {op: (int(count), int(count) - int(over)) for op, count, over in rows}


def evaluate(session: Session, now: dt.datetime, policy: BreachPolicy) -> list[SlaBreach]:
    """Open and close breaches for the window judged at ``now``; returns the breaches opened
    or closed. Idempotent: the same ``now`` twice changes nothing more."""
    start, end = policy.window_at(now)
    counts = answers(session, start, end)
    open_ = {
        b.operation: b
        for b in session.scalars(
            sa.select(SlaBreach).where(SlaBreach.closed_at.is_(None)).with_for_update()
        )
    }
    changed = []
    for operation in sorted(set(counts) | set(open_)):
        total, within = counts.get(operation, (0, 0))
        if total < policy.min_requests:
            continue
        share = within / total
        breach = open_.get(operation)
        if share < policy.target and breach is None:
            breach = SlaBreach(
                operation=operation,
                window_start=start,
                window_end=end,
                requests=total,
                share=share,
                worst_share=share,
                opened_at=now,
            )
            session.add(breach)
            changed.append(breach)
            log.warning(
                "sla.breach_opened",
                operation=operation,
                share=round(share, 4),
                requests=total,
                window_start=start.isoformat(),
                window_end=end.isoformat(),
            )
        elif share < policy.target:
            breach.worst_share = min(breach.worst_share, share)
        elif breach is not None:
            breach.closed_at = now
            changed.append(breach)
            log.info(
                "sla.breach_closed",
                operation=operation,
                share=round(share, 4),
                minutes_open=round((now - breach.opened_at).total_seconds() / 60, 1),
            )
    session.flush()
    return changed
