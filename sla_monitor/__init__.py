"""SLA monitor: probes, help-desk clocks, anomalies and quadrimestre reports."""

from __future__ import annotations

from typing import Any


def includeme(config: Any) -> None:
    """Nothing to mount yet: the SLA monitor has no views of its own so far."""
