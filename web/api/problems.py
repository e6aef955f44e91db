"""RFC 9457 problem documents: every API error is ``application/problem+json`` naming the field.

Views raise ``Problem``; the exception views below render it, and turn Pyramid's own 404/405,
and anything unexpected, into problem documents too, for paths under the API prefix only.
"""

from __future__ import annotations

import json
import re
from typing import Any

import structlog
from pyramid.httpexceptions import HTTPException
from pyramid.response import Response

log = structlog.get_logger(__name__)

MEDIA_TYPE = "application/problem+json"
TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",  # administration (issue 15): what an intermediary's key may not do
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    412: "Precondition failed",
    415: "Unsupported media type",
    422: "Unprocessable content",
    428: "Precondition required",
    500: "Internal server error",
}


class Problem(Exception):
    """An error answered as a problem document. ``field`` names the failing input, in the
    API's own spelling (``options[0].transfers[1].iban``)."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        field: str | None = None,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.field = field
        self.errors = errors or ([{"field": field, "message": detail}] if field else [])
        self.headers = headers or {}

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"urn:payhub:problem:{self.code}",
            "title": TITLES.get(self.status, "Error"),
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if instance:
            body["instance"] = instance
        if self.field:
            body["field"] = self.field
        if self.errors:
            body["errors"] = self.errors
        return body


def not_found(what: str = "resource") -> Problem:
    return Problem(404, "not_found", f"no such {what}")


def problem_response(problem: Problem, request: Any) -> Response:
    response = Response(
        json.dumps(problem.body(request.path)),
        status=problem.status,
        content_type=MEDIA_TYPE,
        charset="utf-8",
    )
    response.headers.update(problem.headers)
    return response


_SNAKE = re.compile(r"_([a-z])")


def camel_path(field: str) -> str:
    """``options[0].due_date`` -> ``options[0].dueDate`` (hub names fields in snake case)."""
    return _SNAKE.sub(lambda m: m.group(1).upper(), field)


def problem_view(exc: Problem, request: Any) -> Response:
    return problem_response(exc, request)


def http_exception_view(exc: HTTPException, request: Any) -> Any:
    status = exc.status_int if exc.status_int in TITLES else 404
    headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
    return problem_response(
        Problem(
            status,
            TITLES[status].lower().replace(" ", "_"),
            exc.detail or TITLES[status],
            headers=headers,
        ),
        request,
    )


def unexpected_view(exc: Exception, request: Any) -> Any:
    log.exception("api.unexpected_error")
    return problem_response(
        Problem(500, "internal_error", "unexpected error; it was logged"), request
    )


def include_views(config: Any, prefix: str) -> None:
    """Register the exception views for paths under ``prefix`` only: elsewhere (checkout
    pages, SOAP) Pyramid's and the other adapters' own answers stand."""
    only_api = {"path_info": f"^{re.escape(prefix)}/"}
    config.add_exception_view(problem_view, context=Problem, **only_api)
    config.add_exception_view(http_exception_view, context=HTTPException, **only_api)
    config.add_exception_view(unexpected_view, context=Exception, **only_api)
