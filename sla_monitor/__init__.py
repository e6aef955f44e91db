"""SLA monitor: answer times of the station, breaches, probes, help-desk clocks, reports.

Settings (all optional; the calendar's are in hub.calendar, the probes' in
sla_monitor.probes, the breach evaluation's in sla_monitor.breaches):
  payhub.sla_recorder         count paForNode answer times per minute (default true)
  payhub.sla_flush_seconds    how often the counts of finished minutes are written (default 5)
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from hub.config import from_registry

RECORDER = "sla.recorder"  # registry key the paForNode endpoint reads on its first answer


def includeme(config: Any) -> None:
    """Register the answer-time recorder for the paForNode endpoint (soap/ reads it from the
    registry, so neither package imports the other)."""
    from sla_monitor.recorder import ResponseRecorder

    settings = from_registry(config.registry)
    if not settings.sla_recorder:
        return
    recorder = ResponseRecorder(
        config.registry["db.session_factory"],
        flush_seconds=settings.sla_flush_seconds,
    )
    config.registry[RECORDER] = recorder
    engine = config.registry["db.engine"]

    def disposed(_engine: Any) -> None:
        # the application is closing its database (shutdown, tests, after a fork): write what
        # was counted, and close the connection that took; a later answer starts again
        recorder.stop()
        engine.pool.dispose()

    sa.event.listen(engine, "engine_disposed", disposed)
