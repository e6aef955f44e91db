"""Payment notices over the REST API (API-key authenticated, like the rest of /api/v1).

* ``GET …/enti/{ec}/notices/{notice}/print`` — the notice data as JSON (default), or the PDF,
  or the QR code (``symbol=datamatrix``: the Poste Data Matrix) as PNG or SVG; chosen with
  ``?format=json|pdf|png|svg`` or an explicit ``Accept`` header; ``?lang=it|it-de|it-en``.
* ``GET …/enti/{ec}/notices/{notice}`` with ``?format=pdf|png|svg`` or ``Accept:
  application/pdf`` / ``image/png`` / ``image/svg+xml`` — the same documents on the API's notice
  resource (its JSON representation stays the API's own).
* ``POST …/enti/{ec}/notice-batches`` ``{"noticeNumbers": [...]} | {"service": "CODE"} |
  {"iupds": [...]}`` (+ ``"language"``) → 202 and the batch status; ``GET …/notice-batches/{id}``
  its progress; ``GET …/notice-batches/{id}/zip`` the zip once done.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pyramid.response import FileResponse, Response
from pyramid.view import view_config

from hub.errors import DomainError, NotFound
from hub.printing import batches, codes, lookup
from hub.printing.data import NoticeDocument
from hub.printing.i18n import VARIANTS
from hub.printing.pdf import render_pdf
from web.api.auth import authorised_ente, record
from web.api.problems import Problem

EC = r"{fiscal_code:[0-9]{11}}"
NOTICE = r"{notice_number:[0-9]{18}}"
BATCH = r"{batch_id:[0-9a-f-]{36}}"
MEDIA = {
    "json": "application/json",
    "pdf": "application/pdf",
    "png": "image/png",
    "svg": "image/svg+xml",
}
DOCUMENTS = ("pdf", "png", "svg")


def includeme(config: Any) -> None:
    """Included with ``route_prefix="/api/v1"`` after web.api (whose notice route it extends)."""
    config.add_route("notices.print", f"/enti/{EC}/notices/{NOTICE}/print")
    config.add_route("notices.batches", f"/enti/{EC}/notice-batches")
    config.add_route("notices.batch", f"/enti/{EC}/notice-batches/{BATCH}")
    config.add_route("notices.batch_zip", f"/enti/{EC}/notice-batches/{BATCH}/zip")
    config.add_view_predicate("notice_document", NoticeDocumentPredicate)
    config.add_view(
        notice_document_view, route_name="api.notice", request_method="GET", notice_document=True
    )
    config.scan("web.notices")


class NoticeDocumentPredicate:
    """True when the request asks explicitly for a PDF, PNG or SVG (never via ``*/*``)."""

    def __init__(self, value: bool, config: Any) -> None:
        self.value = value

    def text(self) -> str:
        return f"notice_document = {self.value}"

    phash = text

    def __call__(self, context: Any, request: Any) -> bool:
        return (_explicit_format(request) in DOCUMENTS) == self.value


def _explicit_format(request: Any) -> str | None:
    asked = request.params.get("format")
    if asked:
        return asked.lower()
    header = request.headers.get("Accept", "")
    offers = [mt for mt in MEDIA.values() if mt in header]  # named, not matched by a wildcard
    if not offers:
        return None
    best = request.accept.acceptable_offers(offers)
    return next(k for k, v in MEDIA.items() if v == best[0][0]) if best else None


def _document(request: Any) -> NoticeDocument:
    ente = authorised_ente(request)
    try:
        return lookup.notice_document(request.db, ente, request.matchdict["notice_number"])
    except NotFound:
        raise Problem(404, "not_found", "no such notice") from None


def _variant(request: Any) -> str:
    variant = request.params.get("lang", "it")
    if variant not in VARIANTS:
        raise Problem(400, "invalid_language", f"lang must be one of {', '.join(VARIANTS)}")
    return variant


def render(request: Any, document: NoticeDocument, fmt: str) -> Response:
    notice = document.first
    if fmt == "json":
        return Response(
            json_body={"notices": [n.as_json() for n in document.notices]},
            content_type="application/json",
            charset="utf-8",
        )
    if fmt == "pdf":
        body = render_pdf(document, variant=_variant(request))
        name = f"avviso-{notice.notice_number}.pdf"
    else:
        symbol = request.params.get("symbol", "qr")
        if symbol not in ("qr", "datamatrix"):
            raise Problem(400, "invalid_symbol", "symbol must be qr or datamatrix")
        payload = notice.qr_payload if symbol == "qr" else notice.datamatrix_payload
        if payload is None:
            raise Problem(
                404,
                "no_postal_account",
                "the Ente has no postal account: the notice has no Data Matrix",
            )
        scale = min(max(int(request.params.get("scale", "4") or 4), 1), 20)
        make = {
            ("qr", "png"): codes.qr_png,
            ("qr", "svg"): codes.qr_svg,
            ("datamatrix", "png"): codes.datamatrix_png,
            ("datamatrix", "svg"): codes.datamatrix_svg,
        }[(symbol, fmt)]
        body = make(payload, scale=scale)
        name = f"{symbol}-{notice.notice_number}.{fmt}"
    return Response(
        body=body, content_type=MEDIA[fmt], content_disposition=f'inline; filename="{name}"'
    )


@view_config(route_name="notices.print", request_method="GET")
def notice_print_view(request: Any) -> Response:
    fmt = _explicit_format(request) or "json"
    if fmt not in MEDIA:
        raise Problem(406, "not_acceptable", f"format must be one of {', '.join(MEDIA)}")
    return render(request, _document(request), fmt)


def notice_document_view(request: Any) -> Response:
    fmt = _explicit_format(request) or "pdf"
    return render(request, _document(request), fmt)


@view_config(route_name="notices.batches", request_method="POST")
def batch_create_view(request: Any) -> Response:
    ente = authorised_ente(request)
    try:
        body = request.json_body
    except ValueError:
        raise Problem(400, "invalid_json", "the body is not JSON") from None
    if not isinstance(body, dict):
        raise Problem(422, "invalid_body", "the body must be a JSON object")
    numbers, service, iupds = body.get("noticeNumbers"), body.get("service"), body.get("iupds")
    language = body.get("language", "it")
    if language not in ("it", "it-de", "it-en"):
        raise Problem(422, "invalid_body", "language must be it, it-de or it-en", field="language")
    bulk_load = body.get("bulkLoad")
    for name, value in (("service", service), ("bulkLoad", bulk_load)):
        if value is not None and not isinstance(value, str):
            raise Problem(422, "invalid_body", f"{name} must be a string", field=name)
    for name, value in (("noticeNumbers", numbers), ("iupds", iupds)):
        if value is not None and not (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        ):
            raise Problem(422, "invalid_body", f"{name} must be a list of strings")
    # what PostgreSQL cannot compare (a NUL) or no IUPD / notice number can be: refused here
    for name, value in (
        ("service", [service] if service else None),
        ("bulkLoad", [bulk_load] if bulk_load else None),
        ("noticeNumbers", numbers),
        ("iupds", iupds),
    ):
        for text in value or ():
            if len(text) > 64 or any(ord(c) < 32 or ord(c) == 127 for c in text):
                raise Problem(
                    422,
                    "invalid_body",
                    f"{name}: at most 64 characters, no control characters",
                    field=name,
                )
    try:
        batch = batches.create_batch(
            request.db,
            ente,
            variant=language,
            notice_numbers=numbers,
            service_code=service,
            iupds=iupds,
            bulk_load=bulk_load,
        )
    except NotFound as exc:
        raise Problem(422, "unknown_selection", str(exc)) from None
    except (DomainError, ValueError) as exc:
        raise Problem(422, getattr(exc, "code", "invalid_body"), str(exc)) from None
    record(
        request,
        ente,
        "notice_batch.create",
        f"notice_batch:{batch.public_id}",
        {"total": batch.total},
    )
    url = request.route_url("notices.batch", fiscal_code=ente.fiscal_code, batch_id=batch.public_id)
    return Response(
        json_body=batches.status_json(batch),
        status=202,
        location=url,
        content_type="application/json",
        charset="utf-8",
    )


@view_config(route_name="notices.batch", request_method="GET")
def batch_status_view(request: Any) -> Response:
    batch = _batch(request)
    body = batches.status_json(batch, request.db)
    if batch.zip_path:
        body["download"] = request.route_url("notices.batch_zip", **request.matchdict)
    return Response(json_body=body, content_type="application/json", charset="utf-8")


@view_config(route_name="notices.batch_zip", request_method="GET")
def batch_zip_view(request: Any) -> Response:
    batch = _batch(request)
    if batch.zip_path is None or not Path(batch.zip_path).exists():
        raise Problem(409, "batch_not_ready", f"the batch is {batch.status.value}, not ready")
    response = FileResponse(batch.zip_path, request=request, content_type="application/zip")
    response.content_disposition = f'attachment; filename="avvisi-{batch.public_id}.zip"'
    return response


def _batch(request: Any) -> Any:
    ente = authorised_ente(request)
    try:
        return batches.get_batch(request.db, ente, request.matchdict["batch_id"])
    except NotFound:
        raise Problem(404, "not_found", "no such notice batch") from None
