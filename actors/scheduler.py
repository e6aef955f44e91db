"""The one scheduler: periodic jobs for the whole deployment (run exactly one of it).

The outbox sweeper is its first job: it re-sends messages whose relay after commit failed.
Other jobs only enqueue an actor, so the work itself runs on the workers.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import dramatiq
import structlog
from apscheduler.schedulers.base import BaseScheduler

from actors import outbox

log = structlog.get_logger(__name__)


def add_jobs(scheduler: BaseScheduler, broker: dramatiq.Broker, factory: Any,
             settings: dict[str, Any]) -> BaseScheduler:
    every = float(settings.get("payhub.outbox_sweep_seconds", 10))
    grace = dt.timedelta(seconds=float(settings.get("payhub.outbox_sweep_grace_seconds", 5)))

    def sweep() -> None:
        try:
            outbox.sweep(broker, factory, grace=grace)
        except Exception:  # a failed sweep is retried at the next tick
            log.exception("outbox.sweep_failed")

    def enqueue(actor_name: str) -> Any:
        def job() -> None:
            try:
                broker.get_actor(actor_name).send()
            except Exception:
                log.exception("scheduler.enqueue_failed", actor_name=actor_name)
        return job

    common = {"coalesce": True, "max_instances": 1}
    scheduler.add_job(sweep, "interval", seconds=every, id="outbox_sweep", **common)
    scheduler.add_job(enqueue("expire_lapsed_activations"), "interval", seconds=60,
                      id="expire_lapsed_activations", **common)
    # options past their retention date: daily just after midnight (UTC, as the state
    # machine's guard judges dates), and once at startup to catch up after downtime
    scheduler.add_job(enqueue("expire_overdue_options"), "cron", hour=0, minute=5,
                      timezone=dt.UTC, id="expire_overdue_options", **common)
    scheduler.add_job(enqueue("expire_overdue_options"), "date",
                      id="expire_overdue_options_at_start", **common)
    return scheduler
