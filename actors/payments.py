"""Work that follows a payment option's change of state."""

from __future__ import annotations

import dramatiq
import sqlalchemy as sa
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
def payment_status_changed(
    option_id: int | None = None,
    *,
    event: str,
    from_state: str,
    to_state: str,
    option_ids: list[int] | None = None,
) -> None:
    """Bring the debt positions' status in line with their options; tell the Ente's webhooks
    and level-1 portals (written by hub.payments for ``FOLLOWED_UP_EVENTS`` only). One
    option (``option_id``) or a chunk of options that made the same change (``option_ids``,
    as a set-based transition writes them): the same work per option, in the message's one
    transaction, so a chunk is followed up whole or retried whole (each step is idempotent)."""
    session = current_session()
    ids = option_ids if option_ids is not None else [] if option_id is None else [option_id]
    # one query for the chunk's options; each position refreshed once, in a stable order
    positions: dict[int, int] = {
        one: position_id
        for one, position_id in session.execute(
            sa.select(PaymentOption.id, PaymentOption.position_id)
            .where(PaymentOption.id.in_(ids))
            .order_by(PaymentOption.id)
        )
    }
    for position_id in dict.fromkeys(positions.values()):
        status = refresh_status(session, position_id)
        log.info("position.status", position_id=position_id, status=status, payment_event=event)
    for one in ids:
        if one not in positions:  # gone since (a purged test position): nothing to tell
            continue
        webhooks.notify_transition(session, one, event, from_state, to_state)
        # a portal that started this payment (level 1) is told even if the browser never returns
        level1.notify_for_option(session, one)
