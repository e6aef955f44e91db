"""Helpers shared by the /ops/ views: the audit of personal-data views, flash messages."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from hub.models import Ente
from hub.tenants import audit
from web.checkout.i18n import _

T = "web.ops:templates/"


def actor(request: Any) -> str:
    return f"ops:{request.identity.username}"


def audit_personal_data(
    request: Any, ente: Ente, *, view: str, target: str | None = None, rows: int | None = None
) -> None:
    """Record that the account was shown debtors' or payers' data of ``ente`` (what page,
    which object, how many rows; never the data themselves)."""
    detail: dict[str, Any] = {"view": view}
    if rows is not None:
        detail["rows"] = rows
    audit.record(
        request.db,
        actor=actor(request),
        action="ops.view_personal_data",
        target=target,
        ente_id=ente.id,
        request_id=getattr(request, "request_id", None),
        detail=detail,
    )


def form_date(value: str, errors: dict[str, Any], field: str) -> dt.date | None:
    """A filter's date (ISO, YYYY-MM-DD) as written in the form; None when empty; a date
    that does not read puts the message in ``errors[field]`` and gives None."""
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        errors[field] = _("Write the date as YYYY-MM-DD.")
        return None


def audit_export(
    request: Any, ente: Ente, query: sa.Select[*tuple[Any, ...]], *, view: str
) -> None:
    """Record a CSV export of ``query``'s rows (counted here, read later by the response) as a
    personal-data view of ``ente``."""
    count = request.db.scalar(
        sa.select(sa.func.count()).select_from(query.order_by(None).subquery())
    )
    audit_personal_data(request, ente, view=view, rows=count)


def audit_action(
    request: Any,
    action: str,
    *,
    target: str,
    ente_id: int | None,
    detail: dict[str, Any] | None = None,
) -> None:
    audit.record(
        request.db,
        actor=actor(request),
        action=action,
        target=target,
        ente_id=ente_id,
        request_id=getattr(request, "request_id", None),
        detail=detail,
    )


def flash(request: Any, message: Any, queue: str = "") -> None:
    request.session.flash(request.localizer.translate(message), queue)
