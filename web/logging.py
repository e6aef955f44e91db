"""Per-request logging context: a request id bound to every log line of the request."""

from __future__ import annotations

import re
import uuid
from typing import Any

import structlog
from pyramid.events import NewRequest, NewResponse

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _bind_request(event: NewRequest) -> None:
    request = event.request
    incoming = request.headers.get("X-Request-Id", "")
    request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
    request.request_id = request_id
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)


def _echo_request_id(event: NewResponse) -> None:
    request_id = getattr(event.request, "request_id", None)
    if request_id:
        event.response.headers["X-Request-Id"] = request_id


def includeme(config: Any) -> None:
    config.add_subscriber(_bind_request, NewRequest)
    config.add_subscriber(_echo_request_id, NewResponse)
    config.add_request_method(lambda r: structlog.get_logger("payhub.request"), "log", reify=True)
