"""Bulk loads: one message loads one chunk and writes the message for the next."""

from __future__ import annotations

import importlib
from typing import Any

import dramatiq
import structlog

from actors.middleware import current_session, current_settings
from hub.config import Config, as_config
from hub.positions import bulk

log = structlog.get_logger(__name__)
# The rows are checked with the REST API's schema, the same as a dry run; it is named in
# settings (a service chosen in .ini) so that actors/ does not import web/.
DEFAULT_SHAPE = "web.api.bulk:api_shape"


def shape(settings: Config | dict[str, Any] | None = None) -> bulk.Shape:
    """The position checker named by ``payhub.bulk_shape`` (``module:function``)."""
    config = current_settings() if settings is None else as_config(settings)
    module, _, name = config.bulk_shape.partition(":")
    return getattr(importlib.import_module(module), name)


@dramatiq.actor(
    actor_name=bulk.ACTOR,
    max_retries=10,
    min_backoff=2000,
    max_backoff=120_000,
    time_limit=15 * 60_000,
)
def run_bulk_load(load_id: int) -> None:
    """Load the next chunk of ``load_id``; the chunk's positions, its failed rows and the
    checkpoint commit together (UnitOfWork), so a redelivered message resumes there."""
    session = current_session()
    structlog.contextvars.bind_contextvars(bulk_load=load_id)
    if not bulk.run_chunk(session, load_id, shape()):
        log.info("bulk_load.finished")
