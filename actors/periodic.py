"""Periodic work, enqueued by the scheduler (see actors.scheduler)."""

from __future__ import annotations

import dramatiq
import structlog

from actors.middleware import current_session
from hub import actor_names, payments

log = structlog.get_logger(__name__)
ACTOR = actor_names.EXPIRE_LAPSED_ACTIVATIONS  # enqueued by the scheduler


@dramatiq.actor(actor_name=ACTOR, max_retries=3)
def expire_lapsed_activations() -> None:
    """In-progress options whose activation lapsed without a receipt become payable again."""
    count = payments.expire_lapsed_activations(current_session())
    if count:
        log.info("activations.lapsed", count=count)
