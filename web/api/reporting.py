"""Reconciliation, read-only, for the Ente's back-office: its reporting flows (one with its
entries), its bank credits and its anomalies, each list newest first with filters and an
opaque keyset cursor, as the receipts list (web/api/receipts.py)."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import sqlalchemy as sa
from pyramid.response import Response
from pyramid.view import view_config

from hub import csvsafe, dashboard
from hub.models import Anomaly, BankCredit, PaymentOption, Receipt, ReportingFlow
from hub.reconciliation import exports
from hub.reconciliation.flows import InvalidFlow
from hub.reconciliation.statements import latest_flow
from web.api import inputs, paging, schemas
from web.api.auth import authorised_ente
from web.api.problems import not_found
from web.api.responses import json_response
from web.api.serialize import anomaly_json, credit_json, flow_detail_json, flow_json

_MIN = dt.datetime.min  # flow date-times are naive (the Node's local time)


# --- reporting flows -------------------------------------------------------------------------


def _credit_id() -> Any:
    """The id of the bank credit matched to the flow row (None: not credited)."""
    return (
        sa.select(sa.func.min(BankCredit.id))
        .where(BankCredit.flow_pk == ReportingFlow.id, BankCredit.status == "matched")
        .scalar_subquery()
        .label("credit_id")
    )


def _micros(at: dt.datetime) -> int:
    return (at.replace(tzinfo=None) - _MIN) // dt.timedelta(microseconds=1)


@view_config(route_name="api.reporting_flows", request_method="GET")
def list_flows(request: Any) -> Response:
    """The Ente's flow versions, newest first by ``flowDateTime`` (dataOraFlusso), filtered by
    flow id, PSP, status and day of ``flowDateTime`` (both ends included)."""
    ente = authorised_ente(request)
    q = inputs.query(request, schemas.FlowQuery)
    paging.check_range(q)
    query = sa.select(ReportingFlow, _credit_id()).where(ReportingFlow.ente_id == ente.id)
    if q.flow_id:
        query = query.where(ReportingFlow.flow_id == q.flow_id)
    if q.psp:
        query = query.where(ReportingFlow.psp_id == q.psp)
    if q.status:
        query = query.where(ReportingFlow.status == q.status)
    if q.from_:
        query = query.where(ReportingFlow.flow_datetime >= dt.datetime.combine(q.from_, dt.time()))
    if q.to and q.to < dt.date.max:
        query = query.where(
            ReportingFlow.flow_datetime
            < dt.datetime.combine(q.to + dt.timedelta(days=1), dt.time())
        )
    if q.cursor:
        micros, pk = paging.after("f", q.cursor)
        try:
            at = _MIN + dt.timedelta(microseconds=micros)
        except OverflowError:
            raise paging.bad_cursor() from None
        query = query.where(
            sa.tuple_(ReportingFlow.flow_datetime, ReportingFlow.id)
            < sa.tuple_(sa.literal(at, sa.DateTime()), sa.literal(pk))
        )
    rows, more = paging.page(
        request.db,
        query.order_by(ReportingFlow.flow_datetime.desc(), ReportingFlow.id.desc()),
        q.limit,
    )
    last = rows[-1][0] if rows else None
    return json_response(
        request,
        {
            "items": [flow_json(flow, credit) for flow, credit in rows],
            "nextCursor": paging.cursor("f", _micros(last.flow_datetime), last.id)
            if more and last
            else None,
        },
    )


def _flow_version(request: Any, ente: Any) -> ReportingFlow:
    """The flow named in the path: its newest version, or ``?version=<flowDateTime>``."""
    q = inputs.query(request, schemas.FlowVersionQuery)
    flow_id = request.matchdict["flow_id"]
    if q.version is None:
        flow = latest_flow(request.db, ente.id, flow_id)
    else:
        flow = request.db.scalar(
            sa.select(ReportingFlow).where(
                ReportingFlow.ente_id == ente.id,
                ReportingFlow.flow_id == flow_id,
                ReportingFlow.flow_datetime == q.version,
            )
        )
    if flow is None:
        raise not_found("reporting flow")
    return flow


@view_config(route_name="api.reporting_flow", request_method="GET")
def get_flow(request: Any) -> Response:
    """The newest version of a flow (or ``?version=<flowDateTime>``) with its entries."""
    ente = authorised_ente(request)
    flow = _flow_version(request, ente)
    flow_id = flow.flow_id
    credit = request.db.scalar(
        sa.select(sa.func.min(BankCredit.id)).where(
            BankCredit.flow_pk == flow.id, BankCredit.status == "matched"
        )
    )
    versions = list(
        request.db.scalars(
            sa.select(ReportingFlow.flow_datetime)
            .where(ReportingFlow.ente_id == ente.id, ReportingFlow.flow_id == flow_id)
            .order_by(ReportingFlow.flow_datetime.desc())
        )
    )
    entries = [tuple(row) for row in dashboard.flow_entries(request.db, flow)]
    return json_response(request, flow_detail_json(flow, credit, versions, entries))


@view_config(route_name="api.reporting_flow_xml", request_method="GET")
def get_flow_xml(request: Any) -> Response:
    """The flow as FlussoRiversamento XML: as the Node sent it (SOAP), or rebuilt from FdR 3
    and valid against its XSD (hub.reconciliation.exports)."""
    flow = _flow_version(request, authorised_ente(request))
    try:
        body = exports.flow_xml(request.db, flow)
    except InvalidFlow:
        raise not_found("reporting flow as XML") from None
    return Response(body, content_type="application/xml", charset="utf-8")


@view_config(route_name="api.reporting_flow_csv", request_method="GET")
def get_flow_csv(request: Any) -> Response:
    """The flow's entries as CSV (the dashboard's file: ``;``, decimal comma, UTF-8 BOM)."""
    flow = _flow_version(request, authorised_ente(request))
    out = io.StringIO()
    out.write("\ufeff")
    csvsafe.writer(out, spreadsheet=True).writerows(exports.flow_csv_rows(request.db, flow))
    return Response(out.getvalue(), content_type="text/csv", charset="utf-8")


# --- bank credits ----------------------------------------------------------------------------


@view_config(route_name="api.bank_credits", request_method="GET")
def list_credits(request: Any) -> Response:
    """The Ente's bank credits, newest first by value date, filtered by value day (both ends
    included) and by matched (``status`` matched) or not."""
    ente = authorised_ente(request)
    q = inputs.query(request, schemas.BankCreditQuery)
    paging.check_range(q)
    query = (
        sa.select(BankCredit, ReportingFlow.flow_id, ReportingFlow.flow_datetime)
        .outerjoin(ReportingFlow, ReportingFlow.id == BankCredit.flow_pk)
        .where(BankCredit.ente_id == ente.id)
    )
    if q.from_:
        query = query.where(BankCredit.value_date >= q.from_)
    if q.to:
        query = query.where(BankCredit.value_date <= q.to)
    if q.matched == "true":
        query = query.where(BankCredit.status == "matched")
    elif q.matched == "false":
        query = query.where(BankCredit.status != "matched")
    if q.cursor:
        ordinal, pk = paging.after("c", q.cursor)
        try:
            day = dt.date.fromordinal(ordinal)
        except (ValueError, OverflowError):
            raise paging.bad_cursor() from None
        query = query.where(
            sa.tuple_(BankCredit.value_date, BankCredit.id)
            < sa.tuple_(sa.literal(day, sa.Date()), sa.literal(pk))
        )
    rows, more = paging.page(
        request.db, query.order_by(BankCredit.value_date.desc(), BankCredit.id.desc()), q.limit
    )
    last = rows[-1][0] if rows else None
    return json_response(
        request,
        {
            "items": [credit_json(c, flow_id, at) for c, flow_id, at in rows],
            "nextCursor": paging.cursor("c", last.value_date.toordinal(), last.id)
            if more and last
            else None,
        },
    )


# --- anomalies -------------------------------------------------------------------------------


@view_config(route_name="api.anomalies", request_method="GET")
def list_anomalies(request: Any) -> Response:
    """The Ente's anomalies, newest first: open ones (default), resolved ones or all."""
    ente = authorised_ente(request)
    q = inputs.query(request, schemas.AnomalyQuery)
    query = (
        sa.select(
            Anomaly,
            PaymentOption.notice_number,
            Receipt.receipt_id,
            ReportingFlow.flow_id,
            BankCredit.reference,
        )
        .outerjoin(PaymentOption, PaymentOption.id == Anomaly.option_id)
        .outerjoin(Receipt, Receipt.id == Anomaly.receipt_pk)
        .outerjoin(ReportingFlow, ReportingFlow.id == Anomaly.flow_pk)
        .outerjoin(BankCredit, BankCredit.id == Anomaly.credit_pk)
        .where(Anomaly.ente_id == ente.id)
    )
    if q.status == "open":
        query = query.where(Anomaly.resolved_at.is_(None))
    elif q.status == "resolved":
        query = query.where(Anomaly.resolved_at.is_not(None))
    if q.kind:
        query = query.where(Anomaly.kind == q.kind)
    if q.cursor:
        _, pk = paging.after("a", q.cursor)
        query = query.where(Anomaly.id < pk)
    rows, more = paging.page(request.db, query.order_by(Anomaly.id.desc()), q.limit)
    return json_response(
        request,
        {
            "items": [anomaly_json(*row) for row in rows],
            "nextCursor": paging.cursor("a", 0, rows[-1][0].id) if more else None,
        },
    )
