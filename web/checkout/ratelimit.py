"""The limit on the back-office lookup forms (notice numbers and plates can be guessed).

A client (``web.clientaddr.address_of``: the peer, or the right-most untrusted hop behind
``payhub.trusted_proxies``) may make ``payhub.lookup_burst`` lookups at once and, on average,
``payhub.lookup_per_minute`` a minute: ``burst`` hits in a moving window of
``burst * 60 / per_minute`` seconds, counted by the process's one limiter (``hub.ratelimit``:
in Redis, shared by every process, wherever payhub runs on Redis).
"""

from __future__ import annotations

from typing import Any

from hub.ratelimit import per_seconds
from web.clientaddr import address_of, limiter


class LookupLimit:
    def __init__(self, per_minute: float, burst: int) -> None:
        self.burst = max(1, int(burst))
        self.limit = per_seconds(self.burst, self.burst * 60.0 / max(per_minute, 1e-6))

    def allow(self, request: Any) -> bool:
        """Count one lookup of the request's client; False beyond the limit."""
        return limiter(request).hit(self.limit, "lookup", address_of(request))
