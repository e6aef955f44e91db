"""Webhook delivery: one signed HTTP POST per attempt, retried with backoff, then a dead letter.

``deliver_webhook(delivery_id)`` claims the delivery (row lock and a lease, so two runs never
post at once), posts it outside any transaction, and records the attempt in a transaction of
its own: the attempt must survive the rollback that a retry implies (the unit of work rolls
back when the actor raises). A failed attempt raises ``dramatiq.Retry`` with an exponential
backoff; the attempt that exhausts ``payhub.webhook_max_retries`` makes the delivery dead,
which the API lists and can replay.

Settings: ``payhub.webhook_max_retries`` (8), ``payhub.webhook_min_backoff_ms`` (10 000),
``payhub.webhook_max_backoff_ms`` (3 600 000), ``payhub.webhook_timeout_seconds`` (5).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

import dramatiq
import requests
import structlog
from dramatiq.common import compute_backoff

from actors.middleware import current_factory
from hub import http, webhooks
from hub.db import utcnow

log = structlog.get_logger(__name__)
INFRASTRUCTURE_RETRIES = 10  # a database or broker error, not an answer of the endpoint


@dataclass(frozen=True)
class Policy:
    max_retries: int = 8
    min_backoff_ms: int = 10_000
    max_backoff_ms: int = 3_600_000
    timeout_seconds: float = 5.0

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> Policy:
        return cls(
            max_retries=int(settings.get("payhub.webhook_max_retries", cls.max_retries)),
            min_backoff_ms=int(settings.get("payhub.webhook_min_backoff_ms",
                                            cls.min_backoff_ms)),
            max_backoff_ms=int(settings.get("payhub.webhook_max_backoff_ms",
                                            cls.max_backoff_ms)),
            timeout_seconds=float(settings.get("payhub.webhook_timeout_seconds",
                                               cls.timeout_seconds)))

    def backoff_ms(self, attempts: int) -> int:
        return compute_backoff(max(attempts - 1, 0), factor=self.min_backoff_ms,
                               max_backoff=self.max_backoff_ms)[1]


def post(request: webhooks.SignedRequest, timeout: float) -> webhooks.AttemptResult:
    """POST the signed request; any 2xx is success. Redirects are not followed."""
    started, clock = utcnow(), time.monotonic()
    try:
        with requests.post(request.url, data=request.body, headers=request.headers,
                           timeout=timeout, allow_redirects=False, stream=True,
                           verify=http.verify()) as response:
            status = response.status_code
    except requests.RequestException as exc:
        return webhooks.AttemptResult(started, _ms(clock), error=f"{type(exc).__name__}: {exc}")
    return webhooks.AttemptResult(started, _ms(clock), status_code=status)


def _ms(since: float) -> int:
    return int((time.monotonic() - since) * 1000)


def _retry_when(retries: int, exc: BaseException) -> bool:
    # our own Retry carries the backoff and is bounded by the delivery's attempts
    return isinstance(exc, dramatiq.Retry) or retries < INFRASTRUCTURE_RETRIES


def _policy() -> Policy:
    return Policy.from_settings(getattr(dramatiq.get_broker(), "payhub_settings", {}) or {})


@dramatiq.actor(actor_name=webhooks.DELIVER_ACTOR, queue_name=webhooks.QUEUE,
                retry_when=_retry_when, min_backoff=5_000, max_backoff=600_000,
                time_limit=120_000, unit_of_work=False)
def deliver_webhook(delivery_id: int) -> None:
    """Make one attempt at sending the delivery."""
    policy = _policy()
    structlog.contextvars.bind_contextvars(webhook_delivery=delivery_id)
    # short transactions of their own: no row lock or transaction is held over the HTTP call
    own = current_factory()
    lease = dt.timedelta(seconds=policy.timeout_seconds * 2 + 30)
    with own.begin() as session:
        claimed = webhooks.claim(session, delivery_id, lease=lease)
    if claimed is None:
        return
    if isinstance(claimed, dt.timedelta):  # another run is posting it right now
        raise dramatiq.Retry(delay=int(claimed.total_seconds() * 1000) + 1000)
    result = post(claimed, policy.timeout_seconds)
    with own.begin() as session:
        delivery = webhooks.record_attempt(session, delivery_id, result,
                                           max_attempts=policy.max_retries + 1)
        status, attempts = delivery.status, delivery.attempts
    log.info("webhook.attempt", status=status, status_code=result.status_code,
             duration_ms=result.duration_ms, error=result.error and result.error[:200],
             attempts=attempts)
    if status == "retrying":
        raise dramatiq.Retry(delay=policy.backoff_ms(attempts))
