"""Receipts of the Ente's notices: as JSON, and as the original XML the Node sent."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from pyramid.response import Response
from pyramid.view import view_config

from hub.models import Ente, Receipt
from web.api.auth import authorised_ente
from web.api.positions import json_response
from web.api.problems import not_found
from web.api.serialize import receipt_json


def _receipt(request: Any, ente: Ente) -> Receipt:
    receipt = request.db.scalar(sa.select(Receipt).where(
        Receipt.ente_id == ente.id, Receipt.receipt_id == request.matchdict["receipt_id"]))
    if receipt is None:
        raise not_found("receipt")
    return receipt


@view_config(route_name="api.notice_receipts", request_method="GET")
def notice_receipts(request: Any) -> Response:
    """Every receipt for a notice (more than one means a double payment)."""
    ente = authorised_ente(request)
    receipts = request.db.scalars(sa.select(Receipt).where(
        Receipt.ente_id == ente.id, Receipt.notice_number == request.matchdict["notice_number"]
    ).order_by(Receipt.id))
    return json_response(request, {"items": [receipt_json(r) for r in receipts]})


@view_config(route_name="api.receipt", request_method="GET")
def receipt(request: Any) -> Response:
    return json_response(request, receipt_json(_receipt(request, authorised_ente(request))))


@view_config(route_name="api.receipt_xml", request_method="GET")
def receipt_xml(request: Any) -> Response:
    """The receipt exactly as received from the Node."""
    raw = _receipt(request, authorised_ente(request)).raw_xml
    return Response(raw, content_type="application/xml", charset="utf-8")
