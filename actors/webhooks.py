"""Webhook delivery: one signed HTTP POST per attempt, retried with backoff, then a dead letter.

``deliver_webhook(delivery_id)`` claims the delivery (row lock and a lease, committed before
the post, so two runs never post at once), posts it outside any transaction, and records the
attempt in a transaction of its own. A failed attempt stores when the next one is due
(``next_attempt_at``, exponential backoff) and sends a delayed message to start it on time;
that message is only a shortcut: ``sweep_due`` (a scheduler job) sends every delivery whose due
time or lease has passed, so a Redis that lost its delay queue loses no retry. The attempt that
exhausts ``payhub.webhook_max_retries`` makes the delivery dead; support lists and replays any
delivery not delivered.

Settings: ``payhub.webhook_max_retries`` (8), ``payhub.webhook_min_backoff_ms`` (10 000),
``payhub.webhook_max_backoff_ms`` (3 600 000), ``payhub.webhook_timeout_seconds`` (5),
``payhub.webhook_sweep_seconds`` (10, in actors.scheduler).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import dramatiq
import requests
import structlog

from actors.middleware import current_factory, current_settings
from actors.retry import RetryPolicy
from hub import http
from hub.config import Config
from hub.db import utcnow
from hub.notify import webhooks

log = structlog.get_logger(__name__)
INFRASTRUCTURE_RETRIES = 10  # a database or broker error, not an answer of the endpoint


def retry_policy(settings: Config | dict[str, Any]) -> RetryPolicy:
    """The delivery retry policy of ``payhub.webhook_*``."""
    return RetryPolicy.from_settings(settings, "webhook")


def post(request: webhooks.SignedRequest, timeout: float) -> webhooks.AttemptResult:
    """POST the signed request; any 2xx is success. Redirects are not followed; the URL is
    checked against the outgoing URL policy again (DNS may have changed since registration)
    and the connection goes to the address checked."""
    started, clock = utcnow(), time.monotonic()
    try:
        with http.post(
            request.url,
            data=request.body,
            headers=request.headers,
            timeout=timeout,
            stream=True,
        ) as response:
            status = response.status_code
    except (requests.RequestException, http.UrlRefused) as exc:
        # never the exception's text: refused, filtered and closed ports must read the same
        return webhooks.AttemptResult(started, _ms(clock), error=http.connection_error(exc))
    return webhooks.AttemptResult(started, _ms(clock), status_code=status)


def _ms(since: float) -> int:
    return int((time.monotonic() - since) * 1000)


@dramatiq.actor(
    actor_name=webhooks.DELIVER_ACTOR,
    queue_name=webhooks.QUEUE,
    max_retries=INFRASTRUCTURE_RETRIES,
    min_backoff=5_000,
    max_backoff=600_000,
    time_limit=120_000,
    unit_of_work=False,
)
def deliver_webhook(delivery_id: int) -> None:
    """Make one attempt at sending the delivery."""
    policy = retry_policy(current_settings())
    structlog.contextvars.bind_contextvars(webhook_delivery=delivery_id)
    # short transactions of their own: no row lock or transaction is held over the HTTP call
    own = current_factory()
    with own.begin() as session:
        claimed = webhooks.claim(
            session, delivery_id, lease=policy.lease, max_attempts=policy.max_retries + 1
        )
    if not isinstance(claimed, webhooks.SignedRequest):
        return  # nothing to send, or another run holds it (the sweeper covers a dead one)
    result = post(claimed, policy.timeout_seconds)
    with own.begin() as session:
        delivery = webhooks.record_attempt(
            session,
            delivery_id,
            result,
            max_attempts=policy.max_retries + 1,
            backoff=policy.backoff,
        )
        status, attempts = delivery.status, delivery.attempts
    log.info(
        "webhook.attempt",
        status=status,
        status_code=result.status_code,
        duration_ms=result.duration_ms,
        error=result.error and result.error[:200],
        attempts=attempts,
    )
    if status == "retrying":  # a shortcut to the due time; the row is the durable copy
        deliver_webhook.send_with_options(
            kwargs={"delivery_id": delivery_id}, delay=policy.backoff_ms(attempts)
        )


def sweep_due(
    broker: dramatiq.Broker,
    factory: Any,
    *,
    lease: dt.timedelta,
    batch: int = 500,
    max_batches: int = 20,
) -> int:
    """Send every delivery that is due (see ``hub.notify.webhooks.take_due``); return how many."""
    actor = broker.get_actor(webhooks.DELIVER_ACTOR)
    count = 0
    for _ in range(max_batches):
        with factory.begin() as session:
            ids = webhooks.take_due(session, lease=lease, limit=batch)
        for delivery_id in ids:
            actor.send(delivery_id=delivery_id)  # lost? due again after the lease
        count += len(ids)
        if len(ids) < batch:
            break
    if count:
        log.info("webhooks.swept", sent=count)
    return count
