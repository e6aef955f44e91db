"""Activation requests: e-mail the referente the signed link to confirm a configuration."""

from __future__ import annotations

import dramatiq

from actors.middleware import current_session, current_settings
from hub.actor_names import SEND_ACTIVATION_LINK
from hub.onboarding import confirmations


@dramatiq.actor(
    actor_name=SEND_ACTIVATION_LINK, max_retries=12, min_backoff=10_000, max_backoff=3_600_000
)
def send_activation_link(step_id: int) -> None:
    """Written by hub.onboarding.requests when a request reaches "configured in test" or
    "configured in production"; a MailError is retried with backoff, then dead-lettered."""
    confirmations.send_link(current_session(), current_settings(), step_id)
