"""Receipts of the Ente: listed (filters, cursor paging), per notice, one as JSON, and one as
the original XML the Node sent."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from pyramid.response import Response
from pyramid.view import view_config

from hub.db import UTCDateTime
from hub.models import Ente, Receipt
from web.api import inputs, paging, schemas
from web.api.auth import audit_personal_data, authorised_ente
from web.api.problems import not_found
from web.api.responses import json_response
from web.api.serialize import receipt_json

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _receipt(request: Any, ente: Ente) -> Receipt:
    receipt = request.db.scalar(
        sa.select(Receipt).where(
            Receipt.ente_id == ente.id, Receipt.receipt_id == request.matchdict["receipt_id"]
        )
    )
    if receipt is None:
        raise not_found("receipt")
    return receipt


def _cursor(receipt: Receipt) -> str:
    """Opaque to clients: the (receivedAt, id) of the last receipt of the page."""
    return paging.cursor(
        "r", (receipt.received_at - _EPOCH) // dt.timedelta(microseconds=1), receipt.id
    )


def _after(cursor: str) -> tuple[dt.datetime, int]:
    micros, pk = paging.after("r", cursor, key_digits=17)
    try:
        return _EPOCH + dt.timedelta(microseconds=micros), pk
    except OverflowError:
        raise paging.bad_cursor() from None


@view_config(route_name="api.receipts", request_method="GET")
def list_receipts(request: Any) -> Response:
    """Receipts of the Ente, newest first (by when payhub received them), filtered by IUV,
    notice number and received day (UTC, both ends included), a page at a time."""
    ente = authorised_ente(request)
    q = inputs.query(request, schemas.ReceiptQuery)
    paging.check_range(q)
    query = sa.select(Receipt).where(Receipt.ente_id == ente.id)
    if q.iuv:
        query = query.where(Receipt.creditor_reference_id == q.iuv)
    if q.notice_number:
        query = query.where(Receipt.notice_number == q.notice_number)
    if q.from_:
        query = query.where(Receipt.received_at >= paging.day_start(q.from_))
    if q.to and q.to < dt.date.max:
        query = query.where(Receipt.received_at < paging.day_start(q.to + dt.timedelta(days=1)))
    if q.cursor:
        at, pk = _after(q.cursor)
        query = query.where(
            sa.tuple_(Receipt.received_at, Receipt.id)
            < sa.tuple_(sa.literal(at, UTCDateTime()), sa.literal(pk))
        )
    rows, more = paging.page(
        request.db, query.order_by(Receipt.received_at.desc(), Receipt.id.desc()), q.limit
    )
    rows = [r for (r,) in rows]
    audit_personal_data(request, ente, view="receipts", target="receipts", rows=len(rows))
    return json_response(
        request,
        {
            "items": [receipt_json(r) for r in rows],
            "nextCursor": _cursor(rows[-1]) if more else None,
        },
    )


@view_config(route_name="api.notice_receipts", request_method="GET")
def notice_receipts(request: Any) -> Response:
    """Every receipt for a notice (more than one means a double payment)."""
    ente = authorised_ente(request)
    notice = request.matchdict["notice_number"]
    receipts = list(
        request.db.scalars(
            sa.select(Receipt)
            .where(Receipt.ente_id == ente.id, Receipt.notice_number == notice)
            .order_by(Receipt.id)
        )
    )
    audit_personal_data(
        request, ente, view="notice_receipts", target=f"notice:{notice}", rows=len(receipts)
    )
    return json_response(request, {"items": [receipt_json(r) for r in receipts]})


@view_config(route_name="api.receipt", request_method="GET")
def receipt(request: Any) -> Response:
    ente = authorised_ente(request)
    found = _receipt(request, ente)
    audit_personal_data(request, ente, view="receipt", target=f"receipt:{found.receipt_id}")
    return json_response(request, receipt_json(found))


@view_config(route_name="api.receipt_xml", request_method="GET")
def receipt_xml(request: Any) -> Response:
    """The receipt exactly as received from the Node."""
    ente = authorised_ente(request)
    found = _receipt(request, ente)
    audit_personal_data(request, ente, view="receipt_xml", target=f"receipt:{found.receipt_id}")
    return Response(found.raw_xml, content_type="application/xml", charset="utf-8")
