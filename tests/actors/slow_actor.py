"""An actor for the worker-kill test: marks that it started, then works for a long time."""

from __future__ import annotations

import os
import time
from pathlib import Path

import dramatiq


@dramatiq.actor(actor_name="slow_probe", max_retries=0, time_limit=120_000)
def slow_probe(marker_dir: str, seconds: float) -> None:
    Path(marker_dir, f"started-{os.getpid()}").touch()
    time.sleep(seconds)
    Path(marker_dir, "done").touch()
