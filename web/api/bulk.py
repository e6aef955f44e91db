"""Bulk loads of debt positions over the API.

* ``POST …/enti/{ec}/bulk-loads`` with a ``text/csv`` or ``application/json`` body (the file),
  ``?dryRun=true`` → 200 and the bad rows with their reasons (the first
  ``payhub.bulk_dry_run_max_errors``, plus ``errorsTotal``), nothing written; a dry run larger
  than ``payhub.bulk_dry_run_inline_bytes`` → 202 and checked by the worker, its result read at
  the load's status and report (``dryRun: true``); otherwise → 202, the file stored and loaded
  by the ``run_bulk_load`` actor (``?publish=true`` publishes).
* ``GET …/bulk-loads/{id}`` → progress; ``GET …/bulk-loads/{id}/report`` → the failed rows (CSV).
* ``POST …/bulk-loads/{id}/publish`` and ``…/cancel`` → 202: every position the (finished)
  load created is published or cancelled in the background, set-based, by the
  ``publish_bulk_load`` / ``cancel_bulk_load`` actors (hub.positions.bulk_changes); 409 for a
  dry run or a load still running.

The body is copied to disk a block at a time (``payhub.bulk_load_dir``, at most
``payhub.bulk_max_bytes``), never read whole into memory. Rows are checked with the API's own
model (hub.positions.inputs) and then hub.positions.writer.validate, exactly as a single create.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from pyramid.response import FileIter, Response
from pyramid.view import view_config

from hub.config import from_registry
from hub.errors import Conflict, NotFound
from hub.positions import bulk, bulk_changes
from web.api.auth import authorised_ente, record
from web.api.problems import Problem
from web.api.responses import model_response
from web.gate import add_body_limit

EC = r"{fiscal_code:[0-9]{11}}"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
ROUTES = {
    "api.bulk_loads": (f"/enti/{EC}/bulk-loads", ("POST",)),
    "api.bulk_load": (f"/enti/{EC}/bulk-loads/{{load_id:{UUID}}}", ("GET",)),
    "api.bulk_load_report": (f"/enti/{EC}/bulk-loads/{{load_id:{UUID}}}/report", ("GET",)),
    "api.bulk_load_publish": (f"/enti/{EC}/bulk-loads/{{load_id:{UUID}}}/publish", ("POST",)),
    "api.bulk_load_cancel": (f"/enti/{EC}/bulk-loads/{{load_id:{UUID}}}/cancel", ("POST",)),
}
FORMATS = {"text/csv": "csv", "application/json": "json"}
DEFAULT_DIR = "var/bulk-loads"


def includeme(config: Any) -> None:
    """Included by web.api (same prefix, problems and 405s); its scan finds the views."""
    from web.api import add_routes  # with the package's own 405 view

    add_routes(config, ROUTES)
    max_bytes = from_registry(config.registry).bulk_max_bytes
    add_body_limit(config, "api.bulk_loads", max_bytes)  # the only route with big bodies


class _Out(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class BulkRowError(_Out):
    row: int = Field(
        description="CSV: the spreadsheet row (the header is 1); JSON: the "
        "array element, from 1; 0: the file itself"
    )
    iupd: str | None
    field: str = Field(description="CSV: the column; JSON: the field path")
    message: str


class BulkDryRunOutput(_Out):
    dry_run: Literal[True]
    rows: int
    rows_failed: int
    positions_valid: int = Field(description="Would be created")
    positions_unchanged: int = Field(description="Exist already with the same content")
    positions_failed: int
    errors: list[BulkRowError] = Field(
        description="The first errors, at most payhub.bulk_dry_run_max_errors (1000 by "
        "default), in row order"
    )
    errors_total: int = Field(description="Every error found; more than `errors` holds if cut")
    errors_truncated: bool = Field(description="`errors` holds only the first ones")


class BulkLoadOutput(_Out):
    id: str
    dry_run: bool = Field(
        description="A dry run checked by the worker: nothing is written; positionsCreated "
        "counts the positions that would be created, the report lists the first errors"
    )
    status: Literal["pending", "running", "done", "failed"]
    format: Literal["csv", "json"]
    publish: bool
    file_bytes: int
    bytes_done: int
    sha256: str
    rows_done: int
    rows_failed: int
    positions_created: int
    positions_unchanged: int
    positions_failed: int
    error: str | None
    created_at: str | None
    finished_at: str | None
    report: Annotated[str, Field(description="URL of the failed rows (CSV)")]


def _flag(request: Any, name: str) -> bool:
    value = request.GET.get(name, "false")
    if value not in ("true", "false"):
        raise Problem(400, "invalid_query", f"{name} must be true or false", field=name)
    return value == "true"


def _settings(request: Any) -> tuple[Path, int]:
    settings = from_registry(request.registry)
    return Path(settings.bulk_load_dir).resolve(), settings.bulk_max_bytes


def _store(request: Any, directory: Path, max_bytes: int) -> bulk.StoredFile:
    file_format = FORMATS.get(request.content_type)
    if file_format is None:
        raise Problem(
            415,
            "unsupported_media_type",
            "send the file as text/csv or application/json",
            field="Content-Type",
        )
    if request.content_length is not None and request.content_length > max_bytes:
        raise Problem(413, "upload_too_large", f"at most {max_bytes} bytes", field="body")
    try:
        return bulk.store_upload(request.body_file, directory, file_format, max_bytes=max_bytes)
    except bulk.UploadTooLarge as exc:
        raise Problem(413, exc.code, str(exc), field="body") from None
    except bulk.FileProblem as exc:
        raise Problem(422, exc.code, str(exc), field="body") from None


def _report_url(request: Any, ente_code: str, public_id: str) -> str:
    return request.route_url("api.bulk_load_report", fiscal_code=ente_code, load_id=public_id)


@view_config(route_name="api.bulk_loads", request_method="POST")
def create(request: Any) -> Response:
    """Dry run (report only) or store the file and start the load."""
    ente = authorised_ente(request)
    unknown = set(request.GET) - {"dryRun", "publish"}
    if unknown:
        raise Problem(
            400, "invalid_query", "only dryRun and publish are accepted", field=sorted(unknown)[0]
        )
    dry, publish = _flag(request, "dryRun"), _flag(request, "publish")
    directory, max_bytes = _settings(request)
    stored = _store(request, directory, max_bytes)
    settings = from_registry(request.registry)
    if dry and stored.size <= settings.bulk_dry_run_inline_bytes:
        try:
            result = bulk.dry_run(
                request.db,
                ente,
                stored.path,
                stored.file_format,
                max_errors=settings.bulk_dry_run_max_errors,
            )
        except bulk.FileProblem as exc:
            raise Problem(422, exc.code, str(exc), field="body") from None
        finally:
            bulk.remove_file(stored.path)
        body = BulkDryRunOutput(
            dry_run=True,
            rows=result.rows,
            rows_failed=result.rows_failed,
            positions_valid=result.positions_valid,
            positions_unchanged=result.positions_unchanged,
            positions_failed=result.positions_failed,
            errors=[
                BulkRowError(row=e.row, iupd=e.iupd, field=e.field, message=e.message)
                for e in result.errors
            ],
            errors_total=result.errors_total,
            errors_truncated=result.errors_total > len(result.errors),
        )
        return model_response(body)
    cause = f"api:{request.api_key_used.prefix}"
    try:
        if dry:  # too big for this thread: the worker checks it, nothing is written
            load = bulk.create_dry_run(request.db, ente, stored, cause=cause)
        else:
            load = bulk.create_load(request.db, ente, stored, publish=publish, cause=cause)
        record(
            request,
            ente,
            "bulk_load.dry_run" if dry else "bulk_load.create",
            f"bulk_load:{load.public_id}",
            {
                "format": stored.file_format,
                "bytes": stored.size,
                "sha256": stored.sha256,
                "publish": publish,
            },
        )
        request.db.flush()
    except BaseException:
        bulk.remove_file(stored.path)
        raise
    url = request.route_url("api.bulk_load", fiscal_code=ente.fiscal_code, load_id=load.public_id)
    body = {
        **bulk.status_json(load),
        "report": _report_url(request, ente.fiscal_code, load.public_id),
    }
    return Response(
        json_body=body, status=202, location=url, content_type="application/json", charset="utf-8"
    )


def _load(request: Any) -> Any:
    ente = authorised_ente(request)
    try:
        return ente, bulk.get_load(request.db, ente, request.matchdict["load_id"])
    except NotFound:
        raise Problem(404, "not_found", "no such bulk load") from None


@view_config(route_name="api.bulk_load", request_method="GET")
def status(request: Any) -> Response:
    ente, load = _load(request)
    body = {
        **bulk.status_json(load),
        "report": _report_url(request, ente.fiscal_code, load.public_id),
    }
    return Response(json_body=body, content_type="application/json", charset="utf-8")


@view_config(route_name="api.bulk_load_publish", request_method="POST")
def publish(request: Any) -> Response:
    """Publish every position the load created (in the background)."""
    return _change(request, "publish")


@view_config(route_name="api.bulk_load_cancel", request_method="POST")
def cancel(request: Any) -> Response:
    """Cancel every position the load created (in the background); those being paid or paid
    are left as they are."""
    return _change(request, "cancel")


def _change(request: Any, event: str) -> Response:
    ente, load = _load(request)
    try:
        bulk_changes.request_load_change(
            request.db, load, event, cause=f"api:{request.api_key_used.prefix}"
        )
    except Conflict as exc:
        raise Problem(409, "conflict", str(exc)) from None
    record(request, ente, f"bulk_load.{event}", f"bulk_load:{load.public_id}")
    body = {
        **bulk.status_json(load),
        "report": _report_url(request, ente.fiscal_code, load.public_id),
    }
    return Response(json_body=body, status=202, content_type="application/json", charset="utf-8")


@view_config(route_name="api.bulk_load_report", request_method="GET")
def report(request: Any) -> Response:
    """The failed rows so far (complete once the load is done), spooled to disk past 1 MiB."""
    _, load = _load(request)
    spool = tempfile.SpooledTemporaryFile(max_size=1 << 20)  # noqa: SIM115 (FileIter closes)
    text = io.TextIOWrapper(spool, "utf-8", newline="", write_through=True)
    bulk.write_report(request.db, load, text)
    text.detach()  # keep the spool open for the response
    size = spool.tell()
    spool.seek(0)
    response = Response(
        app_iter=FileIter(spool), content_type="text/csv", charset="utf-8", content_length=size
    )
    response.content_disposition = f'attachment; filename="bulk-{load.public_id}-errors.csv"'
    return response
