"""The one rate limiter: back-office lookups of the citizen's pages and /ops/ logins.

Built on the ``limits`` library with moving windows: a hit is counted and checked in one atomic
step (a Lua script in Redis, a lock in memory), so concurrent requests cannot all pass a check
made before any of them is counted. Where payhub runs on Redis (``payhub.broker = redis``: several
processes, several machines) the counters live there and every process shares them; the embedded
default (one process) keeps them in memory. ``payhub.ratelimit_storage`` overrides the choice
(``memory://`` or a ``redis://`` URL).

Callers key their limits by the client address that ``web.clientaddr`` works out (the peer, or
the right-most untrusted hop of ``X-Forwarded-For`` behind ``payhub.trusted_proxies``), never
by a header the client can set at will.
"""

from __future__ import annotations

import math
from typing import Any

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

__all__ = ["Limiter", "per_seconds", "storage_uri"]


def per_seconds(amount: int, seconds: float) -> RateLimitItem:
    """``amount`` hits in a moving window of ``seconds`` (at least one second)."""
    return RateLimitItemPerSecond(max(1, int(amount)), max(1, math.ceil(seconds)))


def storage_uri(config: Any) -> str:
    """Where the counters live: ``payhub.ratelimit_storage``, else Redis when payhub runs on
    Redis, else memory (one process)."""
    if config.ratelimit_storage:
        return str(config.ratelimit_storage)
    return str(config.redis_url) if config.broker == "redis" else "memory://"


class Limiter:
    """Moving-window limits shared by every caller of one process (and, on Redis, of every
    process). ``hit`` counts one request and says whether it is within the limit."""

    def __init__(self, uri: str = "memory://", *, namespace: str = "payhub") -> None:
        options: dict[str, Any] = {}
        if uri.startswith(("redis://", "rediss://", "unix://")):
            options["key_prefix"] = f"{namespace}:limits"
        self.uri = uri
        self.storage = storage_from_string(uri, **options)
        self.strategy = MovingWindowRateLimiter(self.storage)

    @classmethod
    def from_config(cls, config: Any) -> Limiter:
        return cls(storage_uri(config), namespace=config.redis_namespace)

    def hit(self, limit: RateLimitItem, *keys: str) -> bool:
        """Count one request under ``keys``; False when it goes beyond ``limit``."""
        return bool(self.strategy.hit(limit, *keys))

    def clear(self, limit: RateLimitItem, *keys: str) -> None:
        self.strategy.clear(limit, *keys)

    def reset(self) -> None:
        """Forget every counter (tests; in memory only, never a shared store)."""
        if isinstance(self.storage, MemoryStorage):
            self.storage.reset()
