"""Bulk loads: one message loads one chunk and writes the message for the next; publishing or
cancelling what a load created goes the same way, set-based (hub.positions.bulk_changes)."""

from __future__ import annotations

import dramatiq
import structlog

from actors.middleware import current_session, current_settings
from hub import outbox
from hub.positions import bulk, bulk_changes

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


# a chunk of 5,000 positions takes seconds set-based; the limit leaves room for a busy database
@dramatiq.actor(
    actor_name=bulk_changes.PUBLISH_ACTOR,
    max_retries=10,
    min_backoff=2000,
    max_backoff=120_000,
    time_limit=10 * 60_000,
)
def publish_bulk_load(load_id: int, cause: str, after: int = 0) -> None:
    """Publish the next chunk of the positions load ``load_id`` created (ids above ``after``);
    queue the next chunk (through the outbox) while chunks come back full."""
    session = current_session()
    done, last = bulk_changes.publish_load_chunk(session, load_id, after=after, cause=cause)
    if last is not None:
        outbox.enqueue(
            session, bulk_changes.PUBLISH_ACTOR, load_id=load_id, cause=cause, after=last
        )
    log.info("bulk_load.published", bulk_load=load_id, count=done, more=last is not None)


@dramatiq.actor(
    actor_name=bulk_changes.CANCEL_ACTOR,
    max_retries=10,
    min_backoff=2000,
    max_backoff=120_000,
    time_limit=10 * 60_000,
)
def cancel_bulk_load(load_id: int, cause: str, after: int = 0) -> None:
    """``publish_bulk_load``, cancelling: what is being paid or paid is left as it is."""
    session = current_session()
    done, last = bulk_changes.cancel_load_chunk(session, load_id, after=after, cause=cause)
    if last is not None:
        outbox.enqueue(session, bulk_changes.CANCEL_ACTOR, load_id=load_id, cause=cause, after=last)
    log.info("bulk_load.cancelled", bulk_load=load_id, count=done, more=last is not None)
