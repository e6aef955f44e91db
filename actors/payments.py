"""Work that follows a payment option's change of state."""

from __future__ import annotations

import dramatiq
import structlog

from actors.middleware import current_session
from hub import payments
from hub.checkout import level1
from hub.models import PaymentOption
from hub.notify import webhooks
from hub.positions.status import refresh_status

log = structlog.get_logger(__name__)


@dramatiq.actor(
    actor_name=payments.STATUS_CHANGED_ACTOR, max_retries=20, min_backoff=1000, max_backoff=300_000
)
def payment_status_changed(option_id: int, event: str, from_state: str, to_state: str) -> None:
    """Bring the debt position's status in line with its options; tell the Ente's webhooks
    and level-1 portals (written by hub.payments for ``FOLLOWED_UP_EVENTS`` only)."""
    session = current_session()
    option = session.get(PaymentOption, option_id)
    if option is None:
        return
    status = refresh_status(session, option.position_id)
    log.info("position.status", position_id=option.position_id, status=status, payment_event=event)
    webhooks.notify_transition(session, option_id, event, from_state, to_state)
    # a portal that started this payment (level 1) is told even if the browser never returns
    level1.notify_for_option(session, option_id)
