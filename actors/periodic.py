"""Periodic work, enqueued by the scheduler (see actors.scheduler)."""

from __future__ import annotations

import dramatiq
import structlog

from actors.middleware import current_session
from hub import payments

log = structlog.get_logger(__name__)
ACTOR = "expire_lapsed_activations"  # enqueued by the scheduler


@dramatiq.actor(actor_name=ACTOR, max_retries=3)
def expire_lapsed_activations() -> None:
    """In-progress options whose activation lapsed without a receipt become payable again."""
    count = payments.expire_lapsed_activations(current_session())
    if count:
        log.info("activations.lapsed", count=count)
