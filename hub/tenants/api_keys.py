"""API keys for Ente applications: issued once in clear, stored as a SHA-256 with a visible prefix.

A key reads ``ph_<8 hex>_<43 url-safe chars>``; ``ph_<8 hex>`` is its prefix, stored in clear
and unique, so that a key is found by its prefix and then compared by hash in constant time.
The secret part has 256 bits of entropy, so a plain SHA-256 (not a slow password hash) is the
right tool: there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.db import utcnow
from hub.errors import DomainError, NotFound
from hub.models import ApiKey, Ente

PREFIX_LEN = len("ph_") + 8


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    secret: str  # the whole key, shown once


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(session: Session, name: str, fiscal_codes: list[str]) -> IssuedKey:
    """Issue a key for the Enti with these fiscal codes (several = an intermediary's key).

    Raises NotFound naming the first unknown fiscal code, DomainError if none is given."""
    if not fiscal_codes:
        raise DomainError("a key needs at least one Ente")
    enti = []
    for code in fiscal_codes:
        ente = session.scalar(sa.select(Ente).where(Ente.fiscal_code == code))
        if ente is None:
            raise NotFound(f"no Ente with fiscal code {code}")
        enti.append(ente)
    return issue(session, name, enti=enti)


def issue(
    session: Session, name: str, *, enti: list[Ente], intermediary_id: int | None = None
) -> IssuedKey:
    """A fresh key for these Enti, or (``intermediary_id``) for an intermediary's
    administration API (hub.admin)."""
    prefix = f"ph_{secrets.token_hex(4)}"
    secret = f"{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(
        prefix=prefix,
        key_hash=_digest(secret),
        name=name[:140],
        enti=enti,
        intermediary_id=intermediary_id,
    )
    session.add(key)
    session.flush()
    return IssuedKey(key=key, secret=secret)


def authenticate(session: Session, secret: str) -> ApiKey | None:
    """The active key whose secret this is, or None (unknown, malformed or revoked)."""
    prefix = secret[:PREFIX_LEN]
    if not prefix.startswith("ph_") or secret[PREFIX_LEN : PREFIX_LEN + 1] != "_":
        return None
    key = session.scalar(sa.select(ApiKey).where(ApiKey.prefix == prefix))
    if key is None or key.revoked_at is not None:
        return None
    if not hmac.compare_digest(key.key_hash, _digest(secret)):
        return None
    return key


def revoke_key(session: Session, prefix: str) -> ApiKey:
    """Revoke the key with this prefix (idempotent). Raises NotFound if there is none."""
    key = session.scalar(sa.select(ApiKey).where(ApiKey.prefix == prefix))
    if key is None:
        raise NotFound(f"no API key with prefix {prefix}")
    key.revoked_at = key.revoked_at or utcnow()
    return key


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(sa.select(ApiKey).order_by(ApiKey.id)))
