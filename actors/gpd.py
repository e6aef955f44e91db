"""GPD-compatible API and the ACA feed (hub.aca), enqueued by the scheduler: the sweep that
queues positions out of step with ACA (and bulk uploads due a poll), the sender of one
position, the step of one bulk upload (hub.aca_bulk), and positions published
with a validity date still ahead, made payable when it comes (GPD: PUBLISHED -> VALID). The
GPD face also does the latter before answering (hub.positions.gpd.publish_due); the actor
matters for the Node, which must find the notice payable even if no GPD client has asked."""

from __future__ import annotations

import dramatiq
import structlog

from actors.middleware import current_session, current_settings
from hub import aca, aca_bulk, actor_names
from hub.positions import gpd

log = structlog.get_logger(__name__)
ACTOR = actor_names.PUBLISH_DUE_GPD_POSITIONS


@dramatiq.actor(actor_name=ACTOR, max_retries=3)
def publish_due_gpd_positions() -> None:
    count = gpd.publish_due(current_session())
    if count:
        log.info("gpd.published_due", count=count)


@dramatiq.actor(actor_name=actor_names.ACA_SWEEP, max_retries=3)
def aca_sweep() -> None:
    """Queue (through the outbox) every position out of step with ACA."""
    config = current_settings()
    if not config.aca_url and not config.aca_client_factory:
        return
    bulk = bool(config.aca_upload_url)  # bulk v2 configured
    threshold = config.aca_bulk_threshold if bulk else None
    count = aca.queue_out_of_step(current_session(), bulk_threshold=threshold)
    if bulk:
        count += aca_bulk.queue_due(current_session(), poll_seconds=config.aca_upload_poll_seconds)
    if count:
        log.info("aca.queued", count=count)


@dramatiq.actor(actor_name=actor_names.ACA_SYNC_POSITION, max_retries=5, min_backoff=5_000)
def aca_sync_position(position_id: int) -> None:
    """Send one position's current state to ACA (failures recorded, retried by the sweep)."""
    config = current_settings()
    state = aca.sync_position(
        current_session(), aca.aca_api(config), position_id, max_attempts=config.aca_max_attempts
    )
    log.info("aca.synced", position_id=position_id, state=state)


@dramatiq.actor(actor_name=actor_names.ACA_BULK_UPLOAD, max_retries=5, min_backoff=5_000)
def aca_bulk_upload(upload_id: int) -> None:
    """Take one bulk upload a step further: send its file, or poll it and apply its report
    (failures recorded, retried by the sweep; hub.aca_bulk)."""
    config = current_settings()
    state = aca_bulk.step(
        current_session(),
        aca.aca_upload_api(config),
        upload_id,
        max_attempts=config.aca_max_attempts,
    )
    log.info("aca.upload_step", upload_id=upload_id, state=state)
