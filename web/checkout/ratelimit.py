"""A per-client token bucket for the lookup forms (notice numbers can be guessed).

In memory and per process: each web process lets a client (its IP address as the server sees
it: behind a reverse proxy, configure the proxy to set it) make ``burst`` lookups at once and
then one every ``60 / per_minute`` seconds. Enough to make guessing notice numbers slow; a
deployment behind several processes or machines multiplies the allowance by their number, so
put a shared limit on the proxy for a strict one (``payhub.lookup_per_minute``,
``payhub.lookup_burst``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    def __init__(
        self,
        per_minute: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 10_000,
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = burst
        self.clock = clock
        self.max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, client: str) -> bool:
        """Take a token for ``client``; False when it has none left."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            allowed = tokens >= 1.0
            self._buckets[client] = (tokens - 1.0 if allowed else tokens, now)
            if len(self._buckets) > self.max_clients:  # forget the fullest (oldest) buckets
                self._buckets = dict(
                    sorted(self._buckets.items(), key=lambda kv: kv[1][1])[-self.max_clients // 2 :]
                )
            return allowed
