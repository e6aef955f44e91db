"""GPD-compatible API: positions published with a validity date still ahead become payable
when it comes (GPD: PUBLISHED -> VALID). Enqueued by the scheduler every minute; the GPD
face also does it before answering (hub.positions.gpd.publish_due), so this only matters for
the Node, which must find the notice payable even if no GPD client has asked since."""

from __future__ import annotations

import dramatiq
import structlog

from actors.middleware import current_session
from hub import actor_names
from hub.positions import gpd

log = structlog.get_logger(__name__)
ACTOR = actor_names.PUBLISH_DUE_GPD_POSITIONS


@dramatiq.actor(actor_name=ACTOR, max_retries=3)
def publish_due_gpd_positions() -> None:
    count = gpd.publish_due(current_session())
    if count:
        log.info("gpd.published_due", count=count)
