"""The OpenAPI 3.1 document, built from the same pydantic schemas that validate requests, and a
docs page that lists the operations (served locally: no CDN).
"""

from __future__ import annotations

import html
import json
from typing import Any

from pydantic.json_schema import models_json_schema
from pyramid.response import Response
from pyramid.view import view_config

from web.api import (  # activation: issue 15, dailyfiles: issue 18
    activation,
    admin,
    bulk,
    dailyfile_targets,  # the daily files' delivery targets
    dailyfiles,
    schemas,
    webhooks,
)
from web.api.openapi_parts import PROBLEM

ERRORS = {
    400: "Malformed JSON, query string or header",
    401: "Missing, unknown or revoked API key",
    404: "No such Ente for this key, or no such resource (the two are not told apart)",
    405: "Method not allowed",
    409: "Conflicts with the resource's state",
    412: "If-Match does not match the current version",
    415: "Body is not application/json",
    422: "Invalid content; `field` names what failed",
    428: "If-Match is required",
    413: "The upload is larger than the configured limit",
    406: "The format asked for is not one this resource has",
}
READ_ERRORS = (400, 401, 404)
WRITE_ERRORS = (400, 401, 404, 409, 412, 415, 422)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _path_param(name: str, pattern: str, example: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "pattern": pattern},
        "example": example,
    }


FISCAL_CODE = _path_param("fiscalCode", r"^[0-9]{11}$", "77777777777", "The Ente's fiscal code")
IUPD = _path_param(
    "iupd",
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
    "IUPD-1",
    "The Ente's identifier of the debt position",
)
NOTICE = _path_param("noticeNumber", r"^[0-9]{18}$", "301000000000000102", "Notice number")
RECEIPT = _path_param("receiptId", r"^[A-Za-z0-9._-]{1,35}$", "r-1", "pagoPA receiptId")
IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "schema": {"type": "string", "maxLength": 64},
    "description": "The ETag from your last read",
}
# PUT and PATCH refuse a request without it (428); publish and cancel check it when sent (412)
IF_MATCH_REQUIRED = {**IF_MATCH, "required": True}
ETAG = {"ETag": {"schema": {"type": "string"}, "description": "The position's version"}}


def _json(schema: str, description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": _ref(schema)}},
    }
    if headers:
        out["headers"] = headers
    return out


def _op(
    op_id: str,
    summary: str,
    ok: dict[int, Any],
    errors: tuple[int, ...],
    params: list[dict[str, Any]],
    body: str | None = None,
) -> dict[str, Any]:
    responses: dict[str, Any] = {str(k): v for k, v in ok.items()}
    for code in (*errors, 405):
        responses[str(code)] = {"description": ERRORS[code], "content": PROBLEM}
    op: dict[str, Any] = {
        "operationId": op_id,
        "summary": summary,
        "parameters": params,
        "responses": responses,
        "tags": ["debt positions"],
    }
    if body:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(body)}},
        }
    return op


def _paths() -> dict[str, Any]:
    position = _json("DebtPositionOutput", "The debt position", ETAG)
    base = "/enti/{fiscalCode}/debt-positions"
    list_params = [
        {"name": n, "in": "query", "schema": s}
        for n, s in (
            ("status", {"type": "string", "enum": list(schemas.PositionStatus.__args__)}),
            ("dueDateFrom", {"type": "string", "format": "date"}),
            ("dueDateTo", {"type": "string", "format": "date"}),
            ("paymentDateFrom", {"type": "string", "format": "date"}),
            ("paymentDateTo", {"type": "string", "format": "date"}),
            ("debtorFiscalCode", {"type": "string", "maxLength": 16}),
            ("serviceCode", {"type": "string", "maxLength": 35}),
            ("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}),
            ("cursor", {"type": "string", "maxLength": 40}),
        )
    ]
    publish_param = {
        "name": "publish",
        "in": "query",
        "description": "Publish at once",
        "schema": {"type": "string", "enum": ["true", "false"]},
    }
    idem = {
        "name": "Idempotency-Key",
        "in": "header",
        "description": "Same key and body: the first answer again; same key, other body: 422",
        "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    }
    return {
        base: {
            "get": _op(
                "listDebtPositions",
                "List positions (filters, cursor pagination)",
                {200: _json("DebtPositionPage", "A page of positions")},
                (*READ_ERRORS, 422),
                [FISCAL_CODE, *list_params],
            ),
            "post": _op(
                "createDebtPosition",
                "Create a position (optionally published)",
                {
                    201: _json(
                        "DebtPositionOutput",
                        "Created",
                        {**ETAG, "Location": {"schema": {"type": "string"}}},
                    )
                },
                WRITE_ERRORS,
                [FISCAL_CODE, publish_param, idem],
                "DebtPositionInput",
            ),
        },
        base + "/{iupd}": {
            "get": _op(
                "getDebtPosition",
                "A position with its options, states and history",
                {200: position},
                READ_ERRORS,
                [FISCAL_CODE, IUPD],
            ),
            "put": _op(
                "replaceDebtPosition",
                "Replace a position while nothing is being paid",
                {200: position},
                (*WRITE_ERRORS, 428),
                [FISCAL_CODE, IUPD, IF_MATCH_REQUIRED],
                "DebtPositionReplace",
            ),
            "patch": _op(
                "patchDebtPosition",
                "Change the position's own fields",
                {200: position},
                (*WRITE_ERRORS, 428),
                [FISCAL_CODE, IUPD, IF_MATCH_REQUIRED],
                "DebtPositionPatch",
            ),
        },
        base + "/{iupd}/publish": {
            "post": _op(
                "publishDebtPosition",
                "Make the draft options payable",
                {200: position},
                WRITE_ERRORS,
                [FISCAL_CODE, IUPD, IF_MATCH],
            ),
        },
        base + "/{iupd}/cancel": {
            "post": _op(
                "cancelDebtPosition",
                "Cancel every option (state machine)",
                {200: position},
                WRITE_ERRORS,
                [FISCAL_CODE, IUPD, IF_MATCH],
            ),
        },
        "/enti/{fiscalCode}/notices/{noticeNumber}": {
            "get": _op(
                "getDebtPositionByNotice",
                "The position holding this notice",
                {200: position},
                READ_ERRORS,
                [FISCAL_CODE, NOTICE],
            ),
        },
        "/enti/{fiscalCode}/notices/{noticeNumber}/receipts": {
            "get": _op(
                "listNoticeReceipts",
                "Receipts for a notice",
                {200: _json("ReceiptList", "Receipts")},
                READ_ERRORS,
                [FISCAL_CODE, NOTICE],
            ),
        },
        "/enti/{fiscalCode}/receipts": {
            "get": _op(
                "listReceipts",
                "The Ente's receipts, newest first (filters, cursor pagination)",
                {200: _json("ReceiptPage", "A page of receipts")},
                (*READ_ERRORS, 422),
                [FISCAL_CODE, *_receipt_params()],
            ),
        },
        "/enti/{fiscalCode}/receipts/{receiptId}": {
            "get": _op(
                "getReceipt",
                "A receipt as JSON",
                {200: _json("ReceiptOutput", "The receipt")},
                READ_ERRORS,
                [FISCAL_CODE, RECEIPT],
            ),
        },
        "/enti/{fiscalCode}/receipts/{receiptId}/xml": {
            "get": _op(
                "getReceiptXml",
                "A receipt as the original XML from the Node",
                {
                    200: {
                        "description": "The paSendRT(V2) request as received",
                        "content": {"application/xml": {"schema": {"type": "string"}}},
                    }
                },
                READ_ERRORS,
                [FISCAL_CODE, RECEIPT],
            ),
        },
        **_webhook_paths(),
        **_bulk_paths(),
        **_notice_paths(),
        **_reporting_paths(),
        **_activation_paths(),  # issue 15
        **dailyfiles.openapi_paths(),  # issue 18: the daily files
        **dailyfile_targets.openapi_paths(),  # the daily files' delivery targets
        **admin.openapi_paths(),  # administration (issue 15)
    }


def _receipt_params() -> list[dict[str, Any]]:
    day = "Day (Italian time) payhub received the receipt (`receivedAt`), not the payment date"
    return [
        {"name": n, "in": "query", "description": d, "schema": s}
        for n, d, s in (
            (
                "iuv",
                "Creditor reference (IUV)",
                {"type": "string", "pattern": r"^[A-Za-z0-9]{1,35}$"},
            ),
            ("noticeNumber", "Notice number", {"type": "string", "pattern": r"^[0-9]{18}$"}),
            (
                "from",
                f"{day}: from this day on; after `to` → 422",
                {"type": "string", "format": "date"},
            ),
            ("to", f"{day}: up to this day, included", {"type": "string", "format": "date"}),
            (
                "limit",
                "Page size",
                {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
            ),
            ("cursor", "`nextCursor` of the previous page", {"type": "string", "maxLength": 40}),
        )
    ]


FLOW_ID = _path_param(
    "flowId", r"^[A-Za-z0-9._-]{1,35}$", "2026-11-27BCITITMM-0001", "identificativoFlusso"
)
_LIMIT = ("limit", "Page size", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50})
_CURSOR = ("cursor", "`nextCursor` of the previous page", {"type": "string", "maxLength": 40})


def _query(*params: tuple[str, str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"name": n, "in": "query", "description": d, "schema": s} for n, d, s in params]


def _days(what: str) -> tuple[tuple[str, str, dict[str, Any]], ...]:
    return (
        (
            "from",
            f"{what}: from this day on; after `to` → 422",
            {"type": "string", "format": "date"},
        ),
        ("to", f"{what}: up to this day, included", {"type": "string", "format": "date"}),
    )


def _reporting_paths() -> dict[str, Any]:
    """Reconciliation, read-only (web/api/reporting.py)."""
    tag = {"tags": ["reconciliation"]}
    code = {"type": "string", "pattern": r"^[A-Za-z0-9._-]{1,35}$"}
    flows = _query(
        ("flowId", "identificativoFlusso (every stored version of it)", code),
        ("psp", "The PSP's identifier (`pspId`)", code),
        (
            "status",
            "Status of the flow version",
            {"type": "string", "enum": list(schemas.FlowStatus.__args__)},
        ),
        *_days("Day of `flowDateTime` (dataOraFlusso, the Node's local time)"),
        _LIMIT,
        _CURSOR,
    )
    version = _query(
        (
            "version",
            "A stored version's `flowDateTime`; default the newest",
            {"type": "string", "pattern": schemas.FLOW_DATETIME},
        )
    )
    credits = _query(
        *_days("Day of `valueDate`"),
        (
            "matched",
            "true: only credits matched to a flow; false: the others",
            {"type": "string", "enum": ["true", "false"]},
        ),
        _LIMIT,
        _CURSOR,
    )
    anomalies = _query(
        (
            "status",
            "open (default), resolved or all",
            {"type": "string", "enum": ["open", "resolved", "all"], "default": "open"},
        ),
        (
            "kind",
            "e.g. credit_amount_mismatch",
            {"type": "string", "pattern": r"^[a-z][a-z_]{0,31}$"},
        ),
        _LIMIT,
        _CURSOR,
    )
    return {
        "/enti/{fiscalCode}/reporting-flows": {
            "get": _op(
                "listReportingFlows",
                "The Ente's reporting flows (every version), "
                "newest first by flowDateTime (filters, cursor pagination)",
                {200: _json("ReportingFlowPage", "A page of flows")},
                (*READ_ERRORS, 422),
                [FISCAL_CODE, *flows],
            )
            | tag,
        },
        "/enti/{fiscalCode}/reporting-flows/{flowId}": {
            "get": _op(
                "getReportingFlow",
                "A flow (its newest version, or ?version=) with its entries",
                {200: _json("ReportingFlowDetail", "The flow")},
                READ_ERRORS,
                [FISCAL_CODE, FLOW_ID, *version],
            )
            | tag,
        },
        "/enti/{fiscalCode}/reporting-flows/{flowId}/xml": {
            "get": _op(
                "getReportingFlowXml",
                "A flow (its newest version, or ?version=) as FlussoRiversamento XML: "
                "as the Node sent it (SOAP), or rebuilt from FdR 3 and valid against the "
                "XSD (1.0.4, or 1.0.5 for Stand-In outcomes)",
                {
                    200: {
                        "description": "The FlussoRiversamento document",
                        "content": {"application/xml": {"schema": {"type": "string"}}},
                    }
                },
                READ_ERRORS,
                [FISCAL_CODE, FLOW_ID, *version],
            )
            | tag,
        },
        "/enti/{fiscalCode}/reporting-flows/{flowId}/csv": {
            "get": _op(
                "getReportingFlowCsv",
                "A flow's entries (its newest version, or ?version=) as CSV: one row per "
                "entry, `;` between cells, decimal comma, UTF-8 with a BOM",
                {
                    200: {
                        "description": "The entries",
                        "content": {"text/csv": {"schema": {"type": "string"}}},
                    }
                },
                READ_ERRORS,
                [FISCAL_CODE, FLOW_ID, *version],
            )
            | tag,
        },
        "/enti/{fiscalCode}/bank-credits": {
            "get": _op(
                "listBankCredits",
                "The Ente's bank credits, newest first by value date (filters, cursor pagination)",
                {200: _json("BankCreditPage", "A page of credits")},
                (*READ_ERRORS, 422),
                [FISCAL_CODE, *credits],
            )
            | tag,
        },
        "/enti/{fiscalCode}/anomalies": {
            "get": _op(
                "listAnomalies",
                "The Ente's anomalies, newest first (open by default)",
                {200: _json("AnomalyPage", "A page of anomalies")},
                READ_ERRORS,
                [FISCAL_CODE, *anomalies],
            )
            | tag,
        },
    }


BATCH_ID = _path_param(
    "batchId", r"^[0-9a-f-]{36}$", "0b7e4a4e-9f3b-4f0e-9c1d-5a6b7c8d9e0f", "The notice batch's id"
)
_BATCH = {
    "type": "object",
    "required": ["id", "status", "total", "done"],
    "properties": {
        "id": {"type": "string"},
        "status": {"type": "string"},
        "total": {"type": "integer"},
        "done": {"type": "integer"},
        "unprintable": {"type": "integer"},
        "variant": {"type": "string"},
        "zipBytes": {"type": ["integer", "null"]},
        "error": {"type": ["string", "null"]},
        "download": {"type": "string"},
    },
}
_NOTICE_MEDIA = {
    "application/json": {"schema": {"type": "object"}},
    "application/pdf": {"schema": {"type": "string", "format": "binary"}},
    "image/png": {"schema": {"type": "string", "format": "binary"}},
    "image/svg+xml": {"schema": {"type": "string"}},
}


def _notice_paths() -> dict[str, Any]:
    """Payment notices (web/notices.py): the printable notice and zip batches."""
    tag = {"tags": ["payment notices"]}
    fmt = [
        {
            "name": "format",
            "in": "query",
            "description": "json (default), pdf, png or svg",
            "schema": {"type": "string", "enum": ["json", "pdf", "png", "svg"]},
        },
        {
            "name": "lang",
            "in": "query",
            "description": "it (default), it-de or it-en",
            "schema": {"type": "string", "enum": ["it", "it-de", "it-en"]},
        },
    ]
    batch = {
        200: {
            "description": "The batch and its progress",
            "content": {"application/json": {"schema": _BATCH}},
        }
    }
    create = (
        _op(
            "createNoticeBatch",
            "Print many notices into a zip (PDFs + index.csv), in the background",
            {
                202: {
                    "description": "Accepted; follow Location",
                    "content": {"application/json": {"schema": _BATCH}},
                    "headers": {"Location": {"schema": {"type": "string"}}},
                }
            },
            (400, 401, 404, 415, 422),
            [FISCAL_CODE],
        )
        | tag
    )
    create["requestBody"] = {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "description": "One selection: notice numbers, a service, IUPDs or a bulk load",
                    "properties": {
                        "noticeNumbers": {
                            "type": "array",
                            "items": {"type": "string", "pattern": r"^[0-9]{18}$"},
                        },
                        "service": {"type": "string"},
                        "iupds": {"type": "array", "items": {"type": "string"}},
                        "bulkLoad": {
                            "type": "string",
                            "description": "A bulk load's id: the printable positions it created",
                        },
                        "language": {"type": "string", "enum": ["it", "it-de", "it-en"]},
                    },
                }
            }
        },
    }
    return {
        "/enti/{fiscalCode}/notices/{noticeNumber}/print": {
            "get": _op(
                "printNotice",
                "The notice data (QR and Data Matrix payloads) or the printable notice",
                {200: {"description": "The notice", "content": _NOTICE_MEDIA}},
                (400, 401, 404, 406, 422),
                [FISCAL_CODE, NOTICE, *fmt],
            )
            | tag,
        },
        "/enti/{fiscalCode}/notice-batches": {"post": create},
        "/enti/{fiscalCode}/notice-batches/{batchId}": {
            "get": _op(
                "getNoticeBatch", "A batch's progress", batch, READ_ERRORS, [FISCAL_CODE, BATCH_ID]
            )
            | tag,
        },
        "/enti/{fiscalCode}/notice-batches/{batchId}/zip": {
            "get": _op(
                "downloadNoticeBatch",
                "The finished batch as a zip",
                {
                    200: {
                        "description": "PDFs and index.csv",
                        "content": {
                            "application/zip": {"schema": {"type": "string", "format": "binary"}}
                        },
                    }
                },
                (400, 401, 404, 409),
                [FISCAL_CODE, BATCH_ID],
            )
            | tag,
        },
    }


WEBHOOK_ID = _path_param(
    "webhookId",
    webhooks.UUID.join("^$"),
    "6f1c1a52-3d0e-4c55-8a43-1b1f1d2e3c4b",
    "The webhook endpoint's id",
)
DELIVERY_ID = _path_param(
    "deliveryId",
    webhooks.UUID.join("^$"),
    "0b7e4a4e-9f3b-4f0e-9c1d-5a6b7c8d9e0f",
    "The delivery's id",
)


def _webhook_paths() -> dict[str, Any]:
    tag = {"tags": ["webhooks"]}
    page = [
        {"name": n, "in": "query", "schema": s}
        for n, s in (
            ("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}),
            ("cursor", {"type": "string", "pattern": r"^[1-9][0-9]{0,17}$"}),
        )
    ]
    return {
        "/enti/{fiscalCode}/webhooks": {
            "get": _op(
                "listWebhooks",
                "The Ente's webhook endpoints",
                {200: _json("WebhookList", "Endpoints (without secrets)")},
                READ_ERRORS,
                [FISCAL_CODE],
            )
            | tag,
            "post": _op(
                "createWebhook",
                "Register an endpoint; the secret is shown only here",
                {
                    201: _json(
                        "WebhookCreated", "Registered", {"Location": {"schema": {"type": "string"}}}
                    )
                },
                (400, 401, 404, 415, 422),
                [FISCAL_CODE],
                "WebhookInput",
            )
            | tag,
        },
        "/enti/{fiscalCode}/webhooks/{webhookId}": {
            "delete": _op(
                "deleteWebhook",
                "Stop sending to an endpoint",
                {204: {"description": "Deleted"}},
                READ_ERRORS,
                [FISCAL_CODE, WEBHOOK_ID],
            )
            | tag,
        },
        "/enti/{fiscalCode}/webhook-dead-letters": {
            "get": _op(
                "listWebhookDeadLetters",
                "Deliveries that exhausted their attempts",
                {200: _json("DeadLetterPage", "A page of dead letters, newest first")},
                READ_ERRORS,
                [FISCAL_CODE, *page],
            )
            | tag,
        },
        "/enti/{fiscalCode}/webhook-dead-letters/{deliveryId}/replay": {
            "post": _op(
                "replayWebhookDeadLetter",
                "Send a dead letter again",
                {202: _json("DeadLetterOutput", "Queued for a new round of attempts")},
                (400, 401, 404, 409),
                [FISCAL_CODE, DELIVERY_ID],
            )
            | tag,
        },
        "/enti/{fiscalCode}/webhook-deliveries": {
            "get": _op(
                "listWebhookDeliveries",
                "Deliveries not delivered yet (pending, sending, retrying, dead)",
                {
                    200: _json(
                        "DeadLetterPage",
                        "A page of deliveries, newest first, each with its next due time",
                    )
                },
                READ_ERRORS,
                [
                    FISCAL_CODE,
                    *page,
                    {
                        "name": "status",
                        "in": "query",
                        "description": "Only this status",
                        "schema": {"enum": list(webhooks.NOT_DELIVERED)},
                    },
                ],
            )
            | tag,
        },
        "/enti/{fiscalCode}/webhook-deliveries/{deliveryId}/replay": {
            "post": _op(
                "replayWebhookDelivery",
                "Send a delivery that is not delivered again, now (409 if delivered "
                "or being sent right now)",
                {202: _json("DeadLetterOutput", "Queued for a new round of attempts")},
                (400, 401, 404, 409),
                [FISCAL_CODE, DELIVERY_ID],
            )
            | tag,
        },
    }


# --- issue 15: activation requests (web/api/activation.py) --------------------------------
REQUEST_ID = _path_param("requestId", r"^[0-9]{1,9}$", "1", "The activation request's id")


def _activation_paths() -> dict[str, Any]:
    tag = {"tags": ["activation requests"]}
    base = "/enti/{fiscalCode}/activation-requests"
    state = {
        "name": "state",
        "in": "query",
        "description": "open: only the requests not closed, rejected or withdrawn",
        "schema": {"enum": ["open", "all"], "default": "all"},
    }
    return {
        base: {
            "get": _op(
                "listActivationRequests",
                "The Ente's activation and change requests, newest first, with their clock",
                {200: _json("ActivationRequestList", "The requests")},
                READ_ERRORS,
                [FISCAL_CODE, state],
            )
            | tag,
            "post": _op(
                "openActivationRequest",
                "Send an activation or change request",
                {
                    201: _json(
                        "ActivationRequestOutput",
                        "Received",
                        {"Location": {"schema": {"type": "string"}}},
                    )
                },
                (400, 401, 404, 409, 415, 422),
                [FISCAL_CODE],
                "ActivationRequestInput",
            )
            | tag,
        },
        base + "/{requestId}": {
            "get": _op(
                "getActivationRequest",
                "One request with its history",
                {200: _json("ActivationRequestOutput", "The request")},
                READ_ERRORS,
                [FISCAL_CODE, REQUEST_ID],
            )
            | tag,
        },
        base + "/{requestId}/steps": {
            "post": _op(
                "takeActivationStep",
                "Take one of the Ente's steps: withdraw, resume, confirm, report a problem",
                {200: _json("ActivationRequestOutput", "The request after the step")},
                (400, 401, 404, 409, 415, 422),
                [FISCAL_CODE, REQUEST_ID],
                "ActivationStepInput",
            )
            | tag,
        },
    }


LOAD_ID = _path_param(
    "loadId", bulk.UUID.join("^$"), "0b7e4a4e-9f3b-4f0e-9c1d-5a6b7c8d9e0f", "The bulk load's id"
)


def _bulk_paths() -> dict[str, Any]:
    tag = {"tags": ["bulk loads"]}
    flags = [
        {
            "name": n,
            "in": "query",
            "description": d,
            "schema": {"type": "string", "enum": ["true", "false"]},
        }
        for n, d in (
            (
                "dryRun",
                "Only check, nothing written: the first 1000 bad rows with their reasons "
                "(payhub.bulk_dry_run_max_errors) and errorsTotal; a file over "
                "payhub.bulk_dry_run_inline_bytes (2 MiB) is checked by the worker: 202 with "
                "dryRun true, the result at Location and its report",
            ),
            ("publish", "Publish the loaded positions"),
        )
    ]
    create = (
        _op(
            "createBulkLoad",
            "Upload a CSV or a JSON array of positions: dry run (200) "
            "or load in the background (202)",
            {
                200: _json("BulkDryRunOutput", "Dry run: the rows that would fail"),
                202: _json(
                    "BulkLoadOutput",
                    "Stored; the load (or a large dry run) runs in the background",
                    {"Location": {"schema": {"type": "string"}}},
                ),
            },
            (400, 401, 404, 413, 415, 422),
            [FISCAL_CODE, *flags],
        )
        | tag
    )
    create["requestBody"] = {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            # each element should be a DebtPositionInput, but a bad one is a reported row, not a
            # refused request: the document promises no more than an array
            "application/json": {
                "schema": {
                    "type": "array",
                    "items": {},
                    "description": "Elements shaped as DebtPositionInput",
                }
            },
        },
    }
    return {
        "/enti/{fiscalCode}/bulk-loads": {"post": create},
        "/enti/{fiscalCode}/bulk-loads/{loadId}": {
            "get": _op(
                "getBulkLoad",
                "Progress of a bulk load",
                {200: _json("BulkLoadOutput", "The load")},
                READ_ERRORS,
                [FISCAL_CODE, LOAD_ID],
            )
            | tag,
        },
        **{
            f"/enti/{{fiscalCode}}/bulk-loads/{{loadId}}/{event}": {
                "post": _op(
                    f"{event}BulkLoad",
                    summary,
                    {202: _json("BulkLoadOutput", "Accepted: the worker does it, set-based")},
                    (401, 404, 409),
                    [FISCAL_CODE, LOAD_ID],
                )
                | tag,
            }
            for event, summary in (
                ("publish", "Publish every position a finished load created"),
                (
                    "cancel",
                    "Cancel every position a finished load created (those being paid or paid "
                    "are left as they are)",
                ),
            )
        },
        "/enti/{fiscalCode}/bulk-loads/{loadId}/report": {
            "get": _op(
                "getBulkLoadReport",
                "The failed rows with their reasons, as CSV",
                {
                    200: {
                        "description": "row, iupd, field, message",
                        "content": {"text/csv": {"schema": {"type": "string"}}},
                    }
                },
                READ_ERRORS,
                [FISCAL_CODE, LOAD_ID],
            )
            | tag,
        },
    }


def build(server_url: str = "/api/v1") -> dict[str, Any]:
    """The OpenAPI 3.1 document of the API mounted at ``server_url``."""
    models = [
        (m, "validation")
        for m in (schemas.DebtPositionInput, schemas.DebtPositionReplace, schemas.DebtPositionPatch)
    ]
    models += [
        (m, "serialization")
        for m in (
            schemas.DebtPositionOutput,
            schemas.DebtPositionPage,
            schemas.ReceiptOutput,
            schemas.ReceiptList,
            schemas.ReceiptPage,
            schemas.ProblemDocument,
        )
    ]
    models += [
        (m, "serialization")
        for m in (
            schemas.ReportingFlowPage,
            schemas.ReportingFlowDetail,
            schemas.BankCreditPage,
            schemas.AnomalyPage,
        )
    ]
    models += [(webhooks.WebhookInput, "validation")]
    models += [
        (m, "serialization")
        for m in (
            webhooks.WebhookCreated,
            webhooks.WebhookList,
            webhooks.DeadLetterPage,
            webhooks.DeadLetterOutput,
        )
    ]
    models += [(m, "serialization") for m in (bulk.BulkDryRunOutput, bulk.BulkLoadOutput)]
    # issue 15: activation requests
    models += [
        (m, "validation")
        for m in (activation.ActivationRequestInput, activation.ActivationStepInput)
    ]
    models += [
        (m, "serialization")
        for m in (activation.ActivationRequestOutput, activation.ActivationRequestList)
    ]
    models += [(m, "validation") for m in admin.INPUT_MODELS]  # administration (issue 15)
    models += dailyfile_targets.MODELS  # the daily files' delivery targets
    _, defs = models_json_schema(models, ref_template="#/components/schemas/{model}", by_alias=True)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "payhub API for Ente back-offices",
            "version": "1.0.0",
            "description": "Expected payments of an Ente creditore on pagoPA (debt "
            "positions, notices, bulk loads), their receipts, reporting flows, bank credits "
            "and anomalies, and webhooks. Amounts are "
            'strings with two decimals ("30.00"). Errors are RFC 9457 problem documents '
            "whose `field` names the failing input. Authenticate with "
            "`Authorization: Bearer <key>` or `X-Api-Key: <key>`.",
        },
        "servers": [{"url": server_url}],
        "security": [{"bearer": []}, {"apiKey": []}],
        "paths": _paths(),
        "components": {
            "schemas": defs["$defs"],
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
            },
        },
    }


@view_config(route_name="api.openapi", request_method="GET")
def openapi_json(request: Any) -> Response:
    document = request.registry.get("api.openapi")
    if document is None:
        document = request.registry["api.openapi"] = build(request.registry["api.prefix"])
    return Response(json_body=document, content_type="application/json", charset="utf-8")


SWAGGER_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>payhub API</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css"></head>
<body><main id="swagger-ui" aria-label="payhub REST API"></main>
<noscript>JavaScript is off: <a href="docs/operations">the operations as a list</a>.</noscript>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/swagger-ui-standalone-preset.js"></script>
<script src="{init}"></script>
</body></html>"""


@view_config(route_name="api.docs", request_method="GET")
def docs(request: Any) -> Response:
    """Interactive documentation (Swagger UI, served locally) of openapi.json: try a call with
    an API key from the Authorize button."""
    prefix = request.registry["api.prefix"]
    page = SWAGGER_PAGE.format(
        assets=html.escape(f"{prefix}/docs/assets"), init=html.escape(f"{prefix}/docs/init.js")
    )
    return Response(page, content_type="text/html", charset="utf-8")


@view_config(route_name="api.docs_init", request_method="GET")
def docs_init(request: Any) -> Response:
    """Swagger UI's start-up script (a file, not an inline script: CSP can forbid those)."""
    url = json.dumps(f"{request.registry['api.prefix']}/openapi.json")
    script = (
        "window.ui = SwaggerUIBundle({url: " + url + ", dom_id: '#swagger-ui', "
        "deepLinking: true, presets: [SwaggerUIBundle.presets.apis, "
        "SwaggerUIStandalonePreset], layout: 'StandaloneLayout'});\n"
    )
    return Response(script, content_type="text/javascript", charset="utf-8")


@view_config(route_name="api.operations", request_method="GET")
def operations(request: Any) -> Response:
    """A plain page listing every operation, its parameters and answers."""
    document = build(request.registry["api.prefix"])
    rows = []
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            params = ", ".join(p["name"] for p in op["parameters"])
            codes = ", ".join(op["responses"])
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            body_name = body.get("schema", {}).get("$ref", "").rsplit("/", 1)[-1]
            rows.append(
                f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}"
                f"</code></td><td>{html.escape(op['summary'])} <small>({op['operationId']})"
                f"</small></td><td>{html.escape(params)}"
                f"</td><td>{html.escape(body_name)}</td><td>{codes}</td></tr>"
            )
    page = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<title>payhub API</title><style>body{font-family:sans-serif;margin:2em}"
        "td,th{border-bottom:1px solid #ccc;padding:.3em .6em;text-align:left}</style></head>"
        f"<body><h1>{html.escape(document['info']['title'])}</h1>"
        f"<p>{html.escape(document['info']['description'])}</p>"
        f"<p>Base URL <code>{html.escape(document['servers'][0]['url'])}</code> · machine-"
        "readable: <a href='../openapi.json'>openapi.json</a></p><table><tr><th>method</th>"
        "<th>path</th><th>what</th><th>parameters</th><th>body</th><th>answers</th></tr>"
        + "".join(rows)
        + "</table></body></html>"
    )
    return Response(page, content_type="text/html", charset="utf-8")
