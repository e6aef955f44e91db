"""The API's JSON answers: a body already in JSON form, or a pydantic model written as every
answer of the API is (JSON mode, by alias)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pyramid.response import Response


def json_response(
    request: Any, body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    response = Response(
        json_body=body, status=status, content_type="application/json", charset="utf-8"
    )
    response.headers.update(headers or {})
    return response


def model_response(
    body: BaseModel, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return json_response(None, body.model_dump(mode="json", by_alias=True), status, headers)
