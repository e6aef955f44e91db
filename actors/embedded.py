"""The embedded default: a Dramatiq worker and the scheduler in the web process."""

from __future__ import annotations

import atexit
from typing import Any

import dramatiq
from apscheduler.schedulers.background import BackgroundScheduler

from actors.scheduler import add_jobs
from hub.config import Config


def start_embedded(
    broker: dramatiq.Broker, factory: Any, settings: Config | dict[str, Any]
) -> dict[str, Any]:
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    scheduler = add_jobs(BackgroundScheduler(daemon=True), broker, factory, settings)
    scheduler.start()

    def stop() -> None:
        scheduler.shutdown(wait=False)
        worker.stop(timeout=2000)

    atexit.register(stop)
    return {"worker": worker, "scheduler": scheduler, "stop": stop}
