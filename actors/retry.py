"""The retry policy of an actor that delivers something outside (a webhook, a daily file):
how many attempts, the exponential backoff between them, the transfer's timeout and the lease
a claim holds, read from the settings under the delivery's prefix (``payhub.webhook_*``,
``payhub.daily_file_*``: ``max_retries``, ``min_backoff_ms``, ``max_backoff_ms``,
``timeout_seconds``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from dramatiq.common import compute_backoff

from hub.config import Config, as_config


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int
    min_backoff_ms: int
    max_backoff_ms: int
    timeout_seconds: float
    lease_slack_seconds: float = 30.0  # room to record the attempt after the timeout

    @classmethod
    def from_settings(
        cls, settings: Config | dict[str, Any], prefix: str, *, lease_slack_seconds: float = 30.0
    ) -> RetryPolicy:
        """The policy of the settings ``<prefix>_max_retries`` and the rest."""
        config = as_config(settings)
        return cls(
            max_retries=getattr(config, f"{prefix}_max_retries"),
            min_backoff_ms=getattr(config, f"{prefix}_min_backoff_ms"),
            max_backoff_ms=getattr(config, f"{prefix}_max_backoff_ms"),
            timeout_seconds=getattr(config, f"{prefix}_timeout_seconds"),
            lease_slack_seconds=lease_slack_seconds,
        )

    def backoff_ms(self, attempts: int) -> int:
        """The wait after the ``attempts``-th failed attempt: doubling from the lower bound."""
        return compute_backoff(
            max(attempts - 1, 0), factor=self.min_backoff_ms, max_backoff=self.max_backoff_ms
        )[1]

    def backoff(self, attempts: int) -> dt.timedelta:
        return dt.timedelta(milliseconds=self.backoff_ms(attempts))

    @property
    def lease(self) -> dt.timedelta:
        """How long a claim holds a delivery: the transfer's limit, with room to record it."""
        return dt.timedelta(seconds=self.timeout_seconds * 2 + self.lease_slack_seconds)
