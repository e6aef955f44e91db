"""Bulk loads: one message loads one chunk and writes the message for the next; publishing or
cancelling what a load created goes the same way, set-based (hub.positions.bulk_changes)."""

from __future__ import annotations

from typing import Any

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
CHANGE_OPTIONS: dict[str, Any] = {
    "max_retries": 10,
    "min_backoff": 2000,
    "max_backoff": 120_000,
    "time_limit": 10 * 60_000,
}


@dramatiq.actor(actor_name=bulk_changes.ACTORS["publish"], **CHANGE_OPTIONS)
def publish_bulk_load(load_id: int, cause: str, after: int = 0) -> None:
    """Publish the next chunk of the positions load ``load_id`` created (ids above ``after``);
    queue the next chunk (through the outbox) while chunks come back full."""
    _change_chunk("publish", load_id, cause, after)


@dramatiq.actor(actor_name=bulk_changes.ACTORS["cancel"], **CHANGE_OPTIONS)
def cancel_bulk_load(load_id: int, cause: str, after: int = 0) -> None:
    """``publish_bulk_load``, cancelling: what is being paid or paid is left as it is."""
    _change_chunk("cancel", load_id, cause, after)


def _change_chunk(event: str, load_id: int, cause: str, after: int) -> None:
    session = current_session()
    done, last = bulk_changes.change_load_chunk(session, load_id, event, after=after, cause=cause)
    if last is not None:
        actor = bulk_changes.ACTORS[event]
        outbox.enqueue(session, actor, load_id=load_id, cause=cause, after=last)
    log.info(
        "bulk_load.changed", bulk_load=load_id, change=event, count=done, more=last is not None
    )
