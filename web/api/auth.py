"""Who is calling: the API key from ``Authorization: Bearer`` or ``X-Api-Key``, and which Ente
the path names. A key not scoped to that Ente gets the same 404 as an Ente that does not exist:
the answer never reveals what another Ente has.
"""

from __future__ import annotations

from typing import Any

from hub.models import ApiKey, Ente
from hub.tenants import api_keys, audit
from web.api.problems import Problem, not_found

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="payhub"'}


def _presented(request: Any) -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return request.headers.get("X-Api-Key", "").strip() or None


def api_key(request: Any) -> ApiKey:
    """The caller's active key; raises a 401 problem if it is missing, unknown or revoked."""
    secret = _presented(request)
    if not secret:
        raise Problem(
            401,
            "unauthenticated",
            "an API key is required (Authorization: Bearer <key> or X-Api-Key)",
            headers=CHALLENGE,
        )
    key = api_keys.authenticate(request.db, secret)
    if key is None:
        raise Problem(
            401, "invalid_api_key", "the API key is unknown or revoked", headers=CHALLENGE
        )
    return key


def authorised_ente(request: Any) -> Ente:
    """The Ente named in the path, if the caller's key covers it; otherwise 404."""
    key = api_key(request)
    code = request.matchdict["fiscal_code"]
    for ente in key.enti:
        if ente.fiscal_code == code:
            request.api_key_used = key
            return ente
    raise not_found("Ente")


def record(
    request: Any, ente: Ente, action: str, target: str, detail: dict[str, Any] | None = None
) -> None:
    """Audit a write by the current key in the request's transaction."""
    key: ApiKey = request.api_key_used
    audit.record(
        request.db,
        actor=f"api_key:{key.prefix}",
        api_key_id=key.id,
        ente_id=ente.id,
        action=action,
        target=target,
        request_id=getattr(request, "request_id", None),
        detail=detail,
    )


def audit_personal_data(
    request: Any, ente: Ente, *, view: str, target: str, rows: int | None = None
) -> None:
    """Record that the current key was shown debtors' or payers' data of ``ente`` (which
    answer, which object, how many rows; never the data themselves), as /ops/ does for its
    pages (``api.view_personal_data``). A list that shows nothing is not recorded."""
    if rows == 0:
        return
    detail: dict[str, Any] = {"view": view}
    if rows is not None:
        detail["rows"] = rows
    record(request, ente, "api.view_personal_data", target, detail)
