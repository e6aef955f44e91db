"""Bulk loads: one message loads one chunk and writes the message for the next."""

from __future__ import annotations

import dramatiq
import structlog

from actors.middleware import current_session, current_settings
from hub.positions import bulk

log = structlog.get_logger(__name__)


@dramatiq.actor(
    actor_name=bulk.ACTOR,
    max_retries=10,
    min_backoff=2000,
    max_backoff=120_000,
    time_limit=15 * 60_000,
)
def run_bulk_load(load_id: int) -> None:
    """Load the next chunk of ``load_id``; the chunk's positions, its failed rows and the
    checkpoint commit together (UnitOfWork), so a redelivered message resumes there. The rows
    are read into hub's one input model (hub.positions.inputs), as the API's create reads its
    body and a dry run reads the rows. A dry run too big for the web thread is checked here
    whole (its first errors kept, all counted)."""
    session = current_session()
    structlog.contextvars.bind_contextvars(bulk_load=load_id)
    max_errors = current_settings().bulk_dry_run_max_errors
    if not bulk.run_chunk(session, load_id, max_errors=max_errors):
        log.info("bulk_load.finished")
