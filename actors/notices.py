"""Notice batches: one message renders one chunk and writes the message for the next."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dramatiq
import structlog

from actors.middleware import current_session, current_settings
from hub.config import Config, as_config
from hub.errors import DomainError
from hub.printing import batches

log = structlog.get_logger(__name__)
DEFAULT_DIR = "var/notice-batches"


def batch_directory(settings: Config | dict[str, Any] | None = None) -> Path:
    """Where batch zips are written (``payhub.notice_batch_dir``)."""
    config = current_settings() if settings is None else as_config(settings)
    return Path(config.notice_batch_dir).resolve()


@dramatiq.actor(
    actor_name=batches.ACTOR,
    max_retries=10,
    min_backoff=2000,
    max_backoff=120_000,
    time_limit=15 * 60_000,
)
def render_notice_batch(batch_id: int) -> None:
    """Render the next chunk of ``batch_id``; the last chunk writes the zip."""
    session = current_session()
    structlog.contextvars.bind_contextvars(notice_batch=batch_id)
    try:
        more = batches.run_chunk(session, batch_id, batch_directory())
    except DomainError as exc:  # a retry cannot fix it
        session.rollback()
        batches.mark_failed(session, batch_id, str(exc))
        log.warning("notice_batch.failed", error=str(exc))
        return
    if not more:
        log.info("notice_batch.done")
