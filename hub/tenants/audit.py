"""The audit trail: every write made through the API (or on API keys) says who, what and when."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from hub.models import AuditEvent


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    target: str | None = None,
    ente_id: int | None = None,
    api_key_id: int | None = None,
    request_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit event to the caller's transaction: it is kept only if the write is."""
    event = AuditEvent(
        actor=actor[:100],
        action=action,
        target=target and target[:100],
        ente_id=ente_id,
        api_key_id=api_key_id,
        request_id=request_id,
        detail=detail,
    )
    session.add(event)
    return event
