"""Reading requests: strict JSON bodies and query strings, problems naming the failing field."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from hub.positions.inputs import field_path as _path
from hub.values.errors_text import plain_message
from web.api.problems import Problem

M = TypeVar("M", bound=BaseModel)


def _problem(exc: ValidationError, status: int = 422) -> Problem:
    errors = [
        {"field": field, "message": plain_message(field, e)}
        for e in exc.errors()
        for field in [_path(e["loc"]) or "body"]
    ]
    if any(e["type"] == "json_invalid" for e in exc.errors()):
        return Problem(400, "invalid_json", "the body is not valid JSON", field="body")
    return Problem(
        status,
        "validation_failed",
        errors[0]["message"],
        field=errors[0]["field"],
        errors=errors,
    )


_NUL = "NUL characters are not accepted"


def nul_path(value: Any, loc: tuple[Any, ...] = ()) -> str | None:
    """Where a NUL character is in parsed JSON (a key or a string), or None. PostgreSQL
    cannot store one, so it is refused here, naming the field, not by the database."""
    if isinstance(value, str):
        return (_path(loc) or "body") if "\x00" in value else None
    if isinstance(value, dict | list):
        for key, item in value.items() if isinstance(value, dict) else enumerate(value):
            if isinstance(key, str) and "\x00" in key:
                return _path((*loc, key))
            found = nul_path(item, (*loc, key))
            if found:
                return found
    return None


def body(request: Any, model: type[M]) -> M:
    """Validate the JSON body strictly against ``model``: unknown fields and wrong types fail."""
    if request.content_type != "application/json":
        raise Problem(
            415, "unsupported_media_type", "send the body as application/json", field="Content-Type"
        )
    raw = request.body or b""
    if b"\\u0000" in raw:  # the only way JSON can carry a NUL
        try:
            where = nul_path(json.loads(raw))
        except ValueError:
            where = None  # not JSON: the validation below says so
        if where:
            raise Problem(
                422,
                "validation_failed",
                f"{where}: {_NUL}",
                field=where,
                errors=[{"field": where, "message": _NUL}],
            )
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise _problem(exc) from None


def query(request: Any, model: type[M]) -> M:
    """Validate the query string against ``model`` (each parameter at most once)."""
    params: dict[str, str] = {}
    for name, value in request.GET.items():
        if name in params:
            raise Problem(400, "invalid_query", "give this parameter once", field=name)
        if "\x00" in name or "\x00" in value:
            raise Problem(400, "invalid_query", _NUL, field=name.replace("\x00", ""))
        params[name] = value
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise _problem(exc, status=400) from None
