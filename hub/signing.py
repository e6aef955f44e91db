"""Signed, expiring links for e-mails (a referente's confirmation, a daily file too large to
attach): itsdangerous' URL-safe timed tokens, one salt per purpose, keyed by the /ops/ secret.

``make_token(config, purpose, payload)`` -> token; ``read_token(config, purpose, token)`` ->
payload, or :class:`BadLink` (tampered, another purpose, expired after
``payhub.link_max_age_days`` or the given ``max_age``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from hub.config import Config, as_config


class BadLink(ValueError):
    """The link is not one of ours, or has expired (``expired`` says which)."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


def _serializer(config: Config, purpose: str) -> URLSafeTimedSerializer:
    secret = config.ops_secret or config.session_secret
    if not secret:
        raise BadLink("no secret to sign links with (payhub.ops_secret)")
    return URLSafeTimedSerializer(secret, salt=f"payhub.link.{purpose}")


def make_token(config: Config | Mapping[str, Any], purpose: str, payload: Any) -> str:
    return _serializer(as_config(config), purpose).dumps(payload)


def read_token(
    config: Config | Mapping[str, Any], purpose: str, token: str, max_age: int | None = None
) -> Any:
    cfg = as_config(config)
    age = max_age if max_age is not None else cfg.link_max_age_days * 86_400
    try:
        return _serializer(cfg, purpose).loads(token, max_age=age)
    except SignatureExpired:
        raise BadLink("this link has expired", expired=True) from None
    except BadSignature:
        raise BadLink("this link is not valid") from None
