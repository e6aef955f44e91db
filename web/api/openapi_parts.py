"""Pieces of the OpenAPI document written the same way by every part of it: web/api/openapi.py
and the modules that write their own paths (admin, admin_activation, dailyfiles,
dailyfile_targets). A leaf module: it imports none of them, so each may import it at the top."""

from __future__ import annotations

from typing import Any

# the content of every error answer: an RFC 9457 problem document
PROBLEM: dict[str, Any] = {
    "application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDocument"}}
}
# the Ente of the path, as the daily files' paths name it (openapi.py's FISCAL_CODE adds an
# example)
ENTE_FISCAL_CODE: dict[str, Any] = {
    "name": "fiscalCode",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": r"^[0-9]{11}$"},
    "description": "The Ente's fiscal code",
}
