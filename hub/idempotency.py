"""Idempotent creates: the first request with a key is remembered with its answer; the same key
with the same body gets that answer again, with another body a conflict.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.models import IdempotencyRecord


def fingerprint(payload: Any) -> str:
    """A stable hash of a JSON-able request (key order and spacing do not matter)."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def claim(session: Session, ente_id: int, key: str, request_hash: str) -> IdempotencyRecord:
    """The record for (Ente, key): an existing one (its ``status_code`` set) or a fresh claim
    in the caller's transaction. A concurrent twin waits on the unique index until the first
    commits, then reads the first's record."""
    query = sa.select(IdempotencyRecord).where(
        IdempotencyRecord.ente_id == ente_id, IdempotencyRecord.key == key
    )
    record = session.scalar(query)
    if record is not None:
        return record
    record = IdempotencyRecord(ente_id=ente_id, key=key, request_hash=request_hash)
    try:
        with session.begin_nested():
            session.add(record)
            session.flush()
    except IntegrityError:
        return session.scalars(query.execution_options(populate_existing=True)).one()
    return record


def remember(
    record: IdempotencyRecord,
    status_code: int,
    response: dict[str, Any],
    location: str | None = None,
) -> None:
    record.status_code, record.response, record.location = status_code, response, location
