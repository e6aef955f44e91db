"""The daily files over the REST API (issue 18), API-key authenticated like the rest of /api/v1.

* ``GET …/enti/{ec}/daily-files?from=&to=`` — the days with files (default the last 31 days),
  per day and service the latest version, its size, hash, counts and delivery status;
* ``GET …/enti/{ec}/daily-files/{day}/{service}`` — the zip (latest version, or ``?version=n``),
  streamed from disk, named with its hash (``Content-Disposition``), ``Digest``-like
  ``X-Payhub-SHA256`` header;
* ``POST …/enti/{ec}/daily-files/{day}/build`` — build (or rebuild) a past day now, in the
  background (202): a new version only if receipts arrived since.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from pyramid.response import FileResponse, Response
from pyramid.view import view_config

from hub import clock
from hub.dailyfile import files
from hub.models import DailyFile
from hub.values.money import format_cents
from web.api.auth import authorised_ente, record
from web.api.openapi_parts import ENTE_FISCAL_CODE, PROBLEM
from web.api.problems import Problem, not_found
from web.api.responses import json_response

EC = r"{fiscal_code:[0-9]{11}}"
DAY = r"{day:[0-9]{4}-[0-9]{2}-[0-9]{2}}"
SERVICE = r"{service:[A-Za-z0-9._-]{1,35}}"
MAX_DAYS = 366


# name: (pattern, methods), as web.api.ROUTES; the build route first: "build" would also match
# as a service code
ROUTES = {
    "api.daily_files": (f"/enti/{EC}/daily-files", ("GET",)),
    "api.daily_file_build": (f"/enti/{EC}/daily-files/{DAY}/build", ("POST",)),
    "api.daily_file": (f"/enti/{EC}/daily-files/{DAY}/{SERVICE}", ("GET",)),
}


def includeme(config: Any) -> None:
    """Included by web.api (route prefix /api/v1); other methods answer 405."""
    from web.api import add_routes  # with the package's own 405 view

    add_routes(config, ROUTES)


def _date(value: str, field: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise Problem(400, "invalid_date", f"{field} must be a date (YYYY-MM-DD)") from None


def file_json(file: DailyFile, versions: int | None = None, delivery: str | None = None) -> dict:
    out: dict[str, Any] = {
        "businessDate": file.business_date.isoformat(),
        "service": file.service_code,
        "version": file.version,
        "test": file.test,
        "fileName": file.file_name,
        "size": file.size,
        "sha256": file.sha256,
        "payments": file.payments,
        "total": format_cents(file.total_cents),
        "createdAt": file.created_at.isoformat(),
    }
    if versions is not None:
        out["versions"] = versions
    if delivery is not None:
        out["delivery"] = delivery
    return out


@view_config(route_name="api.daily_files", request_method="GET")
def list_daily_files(request: Any) -> Response:
    ente = authorised_ente(request)
    today = clock.today()
    until = _date(request.params["to"], "to") if "to" in request.params else today
    if "from" in request.params:
        since = _date(request.params["from"], "from")
    else:
        since = max(until, dt.date(1, 2, 1)) - dt.timedelta(days=30)
    if since > until or (until - since).days > MAX_DAYS:
        raise Problem(400, "invalid_range", f"from must be before to, at most {MAX_DAYS} days")
    rows = files.summaries(request.db, ente.id, since=since, until=until)
    return json_response(
        request,
        {"items": [file_json(r["file"], r["versions"], r["delivery"]) for r in rows]},  # type: ignore[arg-type]
    )


@view_config(route_name="api.daily_file", request_method="GET")
def download_daily_file(request: Any) -> Response:
    ente = authorised_ente(request)
    day = _date(request.matchdict["day"], "day")
    version = request.params.get("version")
    if version is not None and not (version.isdigit() and 0 < int(version) < 10_000):
        raise Problem(400, "invalid_version", "version must be a positive number")
    file = files.find(
        request.db, ente.id, day, request.matchdict["service"], int(version) if version else None
    )
    if file is None or not Path(file.path).exists():
        raise not_found("daily file")
    record(request, ente, "api.daily_file_download", f"daily_file:{file.id}")
    return zip_response(request, file)


def zip_response(request: Any, file: DailyFile) -> Response:
    """The zip streamed from disk, named with its hash."""
    response = FileResponse(file.path, request=request, content_type="application/zip")
    response.content_disposition = f'attachment; filename="{file.file_name}"'
    response.headers["X-Payhub-SHA256"] = file.sha256
    return response


@view_config(route_name="api.daily_file_build", request_method="POST")
def build_daily_file(request: Any) -> Response:
    ente = authorised_ente(request)
    day = _date(request.matchdict["day"], "day")
    if day >= clock.today():
        raise Problem(422, "day_not_over", "only a past business day can be built")
    files.queue_build(request.db, ente.id, day)
    record(request, ente, "api.daily_file_build", f"daily_files:{day.isoformat()}")
    return json_response(request, {"businessDate": day.isoformat(), "status": "queued"}, 202)


def openapi_paths() -> dict[str, Any]:
    """This module's part of the OpenAPI document (web/api/openapi.py)."""
    day = {
        "name": "day",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "format": "date"},
        "description": "The business day (Europe/Rome)",
    }
    service = {
        "name": "service",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": r"^[A-Za-z0-9._-]{1,35}$"},
        "description": "The service code; GENERICO for payments with no service",
    }
    errors = {
        str(code): {"description": text, "content": PROBLEM}
        for code, text in (
            (400, "Bad request"),
            (401, "No valid API key"),
            (404, "No such Ente or file"),
            (405, "Method not allowed"),
        )
    }
    item = {
        "type": "object",
        "properties": {
            "businessDate": {"type": "string", "format": "date"},
            "service": {"type": "string"},
            "version": {"type": "integer"},
            "versions": {"type": "integer"},
            "test": {
                "type": "boolean",
                "description": "A test file: the test payments of an Ente or service active "
                "in test only (never real ones); its name says _TEST",
            },
            "fileName": {"type": "string"},
            "size": {"type": "integer"},
            "sha256": {"type": "string"},
            "payments": {"type": "integer"},
            "total": {"type": "string", "examples": ["1234.50"]},
            "createdAt": {"type": "string", "format": "date-time"},
            "delivery": {"type": "string", "enum": ["delivered", "pending", "failed"]},
        },
    }
    tag = ["daily files"]
    return {
        "/enti/{fiscalCode}/daily-files": {
            "get": {
                "operationId": "listDailyFiles",
                "summary": "The days with daily files, their latest versions and delivery status",
                "tags": tag,
                "parameters": [
                    ENTE_FISCAL_CODE,
                    {"name": "from", "in": "query", "schema": {"type": "string", "format": "date"}},
                    {"name": "to", "in": "query", "schema": {"type": "string", "format": "date"}},
                ],
                "responses": {
                    "200": {
                        "description": "The files, newest day first",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"items": {"type": "array", "items": item}},
                                }
                            }
                        },
                    },
                    **errors,
                },
            }
        },
        "/enti/{fiscalCode}/daily-files/{day}/{service}": {
            "get": {
                "operationId": "downloadDailyFile",
                "summary": "One daily file (zip: record file, receipts, CSV, manifest)",
                "tags": tag,
                "parameters": [
                    ENTE_FISCAL_CODE,
                    day,
                    service,
                    {"name": "version", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                ],
                "responses": {
                    "200": {
                        "description": "The zip; X-Payhub-SHA256 is its hash",
                        "content": {
                            "application/zip": {"schema": {"type": "string", "format": "binary"}}
                        },
                    },
                    **errors,
                },
            }
        },
        "/enti/{fiscalCode}/daily-files/{day}/build": {
            "post": {
                "operationId": "buildDailyFiles",
                "summary": "Build a past day's files now (a new version only if receipts arrived)",
                "tags": tag,
                "parameters": [ENTE_FISCAL_CODE, day],
                "responses": {
                    "202": {"description": "Queued"},
                    "422": {"description": "The day is not over", "content": PROBLEM},
                    **errors,
                },
            }
        },
    }
