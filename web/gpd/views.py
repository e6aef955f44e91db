"""The GPD-compatible API's views (routes in web/gpd/__init__.py, JSON shapes in
hub/positions/gpd_json.py).

Errors are GPD's: ``ProblemJson`` (``title``, ``status``, ``detail``) with GPD's codes: 400
malformed or invalid, 401 no or unknown key, 403 an organization the key does not cover, 404,
409 (exists already, or not in a state that allows it), 422 (setPaymentOptionAsAlreadyPaid: not
payable). Views never commit: pyramid_tm does,
or aborts everything on an error.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ValidationError
from pyramid.response import Response
from pyramid.view import view_config
from sqlalchemy.exc import IntegrityError

from hub import clock
from hub.errors import (
    Conflict,
    DomainError,
    NotFound,
    OtherPlanInProgress,
    PaymentAlreadyPaid,
    PaymentCancelled,
    PaymentExpired,
    PaymentUnknown,
)
from hub.models import DebtPosition, Ente, GpdPosition, PaymentOption, Receipt
from hub.positions import fees
from hub.positions import gpd as service
from hub.positions import gpd_json as shapes
from hub.positions.fees import fees_of
from hub.positions.inputs import InvalidPosition, field_path
from hub.positions.writer import create_position, replace_position
from hub.tenants import api_keys
from web.api.auth import audit_personal_data, record
from workflows.payment import IllegalTransition
from workflows.payment import PositionStatus as P

KEY_HEADER = "Ocp-Apim-Subscription-Key"
MARKED_AS_PAID = "MARKED_AS_PAID"  # GPD's idReceipt and pspCompany of an option paid elsewhere
JSON = "application/json"


class GpdError(Exception):
    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail


def _answer(body: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False), status=status, content_type=JSON, charset="utf-8"
    )


def error_view(exc: GpdError, request: Any) -> Response:
    """GPD's error answer; raised, so that pyramid_tm aborts whatever the view wrote."""
    if exc.status in (401, 403):  # as pagoPA's gateway answers them
        return _answer({"statusCode": exc.status, "message": exc.detail}, exc.status)
    return _answer({"title": exc.title, "status": exc.status, "detail": exc.detail}, exc.status)


def _run(work: Callable[[], Any]) -> Any:
    """Map the writer's errors: invalid input 400, rule conflicts 409."""
    try:
        return work()
    except InvalidPosition as exc:
        raise GpdError(400, "Bad Request", str(exc)) from None
    except (Conflict, IllegalTransition) as exc:
        raise GpdError(409, "Conflict", str(exc)) from None
    except DomainError as exc:
        raise GpdError(400, "Bad Request", str(exc)) from None


# --- who, what -----------------------------------------------------------------------------


def _ente(request: Any) -> Ente:
    secret = request.headers.get(KEY_HEADER, "").strip()
    if not secret:
        raise GpdError(
            401,
            "Unauthorized",
            f"Access denied due to missing subscription key. Make sure to include "
            f"subscription key when making requests to an API ({KEY_HEADER}).",
        )
    key = api_keys.authenticate(request.db, secret)
    if key is None:
        raise GpdError(
            401,
            "Unauthorized",
            "Access denied due to invalid subscription key. Make sure to provide a valid key "
            "for an active subscription.",
        )
    code = request.matchdict["fiscal_code"]
    for ente in key.enti:
        if ente.fiscal_code == code:
            request.api_key_used = key
            # GPD: PUBLISHED positions become VALID at their validity date; done before any
            # answer so that what is read is current even between the scheduler's runs
            service.publish_due(request.db, ente_id=ente.id)
            return ente
    raise GpdError(403, "Forbidden", "You are not allowed to access this resource.")


def _codes(request: Any) -> set[str] | None:
    """GPD's ``segregationCodes`` (a broker's reach: the IUVs ``3`` + code + ...), if given."""
    value = request.GET.get("segregationCodes")
    if value is None:
        return None
    codes = {c.strip() for c in value.split(",") if c.strip()}
    if not codes or not all(len(c) == 2 and c.isascii() and c.isdigit() for c in codes):
        raise GpdError(400, "Bad Request", "segregationCodes: two-digit codes, comma separated")
    return codes


def _within_codes(request: Any, notices: list[str]) -> None:
    codes = _codes(request)
    if codes is None:
        return
    for nav in notices:
        if not (nav.startswith("3") and nav[1:3] in codes):
            raise GpdError(
                403, "Forbidden", f"the notice {nav} is outside the segregation codes given"
            )


def _version(request: Any) -> str:
    return "v3" if request.matched_route.name.startswith("gpd.v3.") else "v1"


def _body(request: Any, model: type[BaseModel]) -> Any:
    if not request.content_type.startswith(JSON):
        raise GpdError(400, "Bad Request", "send the body as application/json")
    try:
        return model.model_validate_json(request.body or b"")
    except ValidationError as exc:
        first = exc.errors()[0]
        where = field_path(first["loc"]) or "body"
        if first["type"] == "json_invalid":
            raise GpdError(400, "Bad Request", "the body is not valid JSON") from None
        raise GpdError(400, "BAD REQUEST", f"{where}: {first['msg']}") from None


def _flag(request: Any, name: str) -> bool:
    value = request.GET.get(name, "false")
    if value not in ("true", "false"):
        raise GpdError(400, "Bad Request", f"{name} must be true or false")
    return value == "true"


def _find(
    request: Any, ente: Ente, *, lock: bool = False
) -> tuple[DebtPosition, GpdPosition | None]:
    query = (
        sa.select(DebtPosition, GpdPosition)
        .outerjoin(GpdPosition, GpdPosition.position_id == DebtPosition.id)
        .where(DebtPosition.ente_id == ente.id, DebtPosition.iupd == request.matchdict["iupd"])
    )
    if lock:
        query = query.with_for_update(of=DebtPosition)
    row = request.db.execute(query).first()
    if row is None or (row[1] is not None and row[1].deleted_at is not None):
        raise GpdError(404, "Not found", f"Debt position {request.matchdict['iupd']!r} not found")
    _within_codes(request, [o.notice_number for o in row[0].options])
    return row[0], row[1]


def _receipts(request: Any, positions: list[DebtPosition]) -> dict[int, Receipt]:
    ids = [o.id for p in positions for o in p.options if o.paid_at]
    if not ids:
        return {}
    rows = request.db.scalars(
        sa.select(Receipt)
        .where(Receipt.option_id.in_(ids), Receipt.outcome == "OK")
        .order_by(Receipt.id)
    )
    return {r.option_id: r for r in rows if r.option_id is not None}


def _shape(
    request: Any,
    ente: Ente,
    position: DebtPosition,
    gpd: GpdPosition | None,
    *,
    response: bool,
    receipts: dict[int, Receipt] | None = None,
) -> dict[str, Any]:
    build = shapes.position_v1 if _version(request) == "v1" else shapes.position_v3
    return build(
        position,
        gpd,
        _receipts(request, [position]) if receipts is None else receipts,
        response=response,
        ente_code=ente.fiscal_code,
        ente_name=ente.name,
        fees=fees_of(request.db, [o.id for o in position.options]),
    )


def _translate(request: Any, iupd: str | None = None) -> shapes.Translated:
    if _version(request) == "v1":
        body = _body(request, shapes.PositionV1)
        return _run(lambda: shapes.from_v1(body, iupd))
    body = _body(request, shapes.PositionV3)
    return _run(lambda: shapes.from_v3(body, iupd))


def _cause(request: Any) -> str:
    return f"gpd:{request.api_key_used.prefix}"


def _notices_free(request: Any, ente: Ente, numbers: list[str], own: int | None = None) -> None:
    holders = request.db.execute(
        sa.select(PaymentOption.notice_number, PaymentOption.position_id).where(
            PaymentOption.ente_id == ente.id, PaymentOption.notice_number.in_(numbers)
        )
    ).all()
    for number, position_id in holders:
        if position_id != own:
            raise GpdError(
                409, "Conflict", f"the notice {number} (IUV {number[1:]}) already exists"
            )


def _create(request: Any, ente: Ente, t: shapes.Translated, *, publish: bool) -> DebtPosition:
    exists = request.db.scalar(
        sa.select(DebtPosition.id).where(
            DebtPosition.ente_id == ente.id, DebtPosition.iupd == t.data.iupd
        )
    )
    if exists:
        raise GpdError(409, "Conflict", f"Debt position {t.data.iupd!r} already exists")
    _within_codes(request, [o.notice_number or "" for o in t.data.options])
    _notices_free(request, ente, [o.notice_number or "" for o in t.data.options])

    def work() -> DebtPosition:
        with request.db.begin_nested():
            position = create_position(
                request.db,
                ente,
                t.data,
                cause=_cause(request),
                verify_check_digits=False,  # GPD takes the Ente's IUVs as they are
                strict_identifiers=True,
            )
            gpd = GpdPosition(position_id=position.id, extras=t.extras, **t.columns)
            request.db.add(gpd)
            request.db.flush()
            if publish:
                service.publish(request.db, position, gpd, cause=_cause(request))
        return position

    try:
        position = _run(work)
    except IntegrityError:
        raise GpdError(409, "Conflict", "the debt position or one of its IUVs exists") from None
    record(
        request,
        ente,
        "debt_position.create",
        f"debt_position:{position.iupd}",
        {"via": "gpd", "publish": publish, "options": [o.notice_number for o in position.options]},
    )
    return position


# --- operations ------------------------------------------------------------------------------


@view_config(route_name="gpd.v1.info", request_method="GET")
def info(request: Any) -> Response:
    """GPD's healthCheck: who answers (no key needed for it here: it says nothing of data)."""
    return _answer({"name": "payhub-gpd", "version": "1", "environment": "payhub"})


@view_config(route_name="gpd.v1.positions", request_method="POST")
@view_config(route_name="gpd.v3.positions", request_method="POST")
def create(request: Any) -> Response:
    """createPosition (``toPublish`` publishes it at once)."""
    ente = _ente(request)
    publish = _flag(request, "toPublish")
    t = _translate(request)
    position = _create(request, ente, t, publish=publish)
    request.db.flush()
    gpd = request.db.get(GpdPosition, position.id)
    return _answer(_shape(request, ente, position, gpd, response=False), 201)


@view_config(route_name="gpd.v1.bulk", request_method="POST")
def create_many(request: Any) -> Response:
    """GPD's createMultiplePositions: all of them or none."""
    ente = _ente(request)
    publish = _flag(request, "toPublish")
    body = _body(request, shapes.MultiplePositionsV1)
    iupds = [p.iupd for p in body.payment_positions]
    if len(set(iupds)) != len(iupds):
        raise GpdError(400, "Bad Request", "the same iupd appears twice")
    for i, item in enumerate(body.payment_positions):
        t = _run(lambda item=item: shapes.from_v1(item))
        try:
            _create(request, ente, t, publish=publish)
        except GpdError as exc:
            raise GpdError(exc.status, exc.title, f"paymentPositions[{i}]: {exc.detail}") from None
    return Response(status=201)


@view_config(route_name="gpd.v1.position", request_method="GET")
@view_config(route_name="gpd.v3.position", request_method="GET")
def read(request: Any) -> Response:
    """getOrganizationDebtPositionByIUPD."""
    ente = _ente(request)
    position, gpd = _find(request, ente)
    audit_personal_data(request, ente, view="gpd.position", target=f"position:{position.iupd}")
    return _answer(_shape(request, ente, position, gpd, response=True))


@view_config(route_name="gpd.v1.position", request_method="PUT")
@view_config(route_name="gpd.v3.position", request_method="PUT")
def update(request: Any) -> Response:
    """updatePosition: the whole position again, while nothing of it is being paid."""
    ente = _ente(request)
    publish = _flag(request, "toPublish")
    position, gpd = _find(request, ente, lock=True)
    t = _translate(request, iupd=position.iupd)
    _within_codes(request, [o.notice_number or "" for o in t.data.options])
    _notices_free(request, ente, [o.notice_number or "" for o in t.data.options], position.id)
    was_published = position.published_at is not None or bool(gpd and gpd.publish_pending)

    def work() -> None:
        replace_position(
            request.db,
            ente,
            position,
            t.data,
            cause=_cause(request),
            verify_check_digits=False,
        )

    _run(work)
    if gpd is None:
        gpd = GpdPosition(position_id=position.id, extras=t.extras, **t.columns)
        request.db.add(gpd)
    else:
        for name, value in t.columns.items():
            setattr(gpd, name, value)
        gpd.extras = t.extras
    request.db.flush()
    if publish or (was_published and position.published_at is None):
        _run(lambda: service.publish(request.db, position, gpd, cause=_cause(request)))
    record(request, ente, "debt_position.replace", f"debt_position:{position.iupd}", {"via": "gpd"})
    request.db.flush()
    return _answer(_shape(request, ente, position, gpd, response=False))


@view_config(route_name="gpd.v1.position", request_method="DELETE")
@view_config(route_name="gpd.v3.position", request_method="DELETE")
def delete(request: Any) -> Response:
    """deletePosition: cancelled in the archive (its history stays), gone from GPD's face."""
    ente = _ente(request)
    position, gpd = _find(request, ente, lock=True)
    if gpd is None:
        gpd = GpdPosition(position_id=position.id, company_name=ente.name, extras={})
        request.db.add(gpd)
    _run(lambda: service.delete(request.db, position, gpd, cause=_cause(request)))
    record(request, ente, "debt_position.cancel", f"debt_position:{position.iupd}", {"via": "gpd"})
    return _answer("OK")


@view_config(route_name="gpd.v1.publish", request_method="POST")
@view_config(route_name="gpd.v3.publish", request_method="POST")
def publish(request: Any) -> Response:
    """publishPosition: a DRAFT position becomes VALID (PUBLISHED until its validity date)."""
    ente = _ente(request)
    position, gpd = _find(request, ente, lock=True)
    if position.status != P.DRAFT or (gpd is not None and gpd.publish_pending):
        raise GpdError(409, "Conflict", f"Debt position {position.iupd!r} is not in DRAFT")
    _run(lambda: service.publish(request.db, position, gpd, cause=_cause(request)))
    record(request, ente, "debt_position.publish", f"debt_position:{position.iupd}", {"via": "gpd"})
    request.db.flush()
    return _answer(_shape(request, ente, position, gpd, response=False))


@view_config(route_name="gpd.v1.invalidate", request_method="POST")
def invalidate(request: Any) -> Response:
    """invalidatePosition: a published position no longer payable (INVALID)."""
    ente = _ente(request)
    position, gpd = _find(request, ente, lock=True)
    if position.published_at is None and not (gpd is not None and gpd.publish_pending):
        raise GpdError(409, "Conflict", f"Debt position {position.iupd!r} is not published")
    _run(lambda: service.delete(request.db, position, None, cause=_cause(request)))
    if gpd is not None:
        gpd.publish_pending = False
    record(request, ente, "debt_position.cancel", f"debt_position:{position.iupd}", {"via": "gpd"})
    request.db.flush()
    return _answer(_shape(request, ente, position, gpd, response=False))


_ORDER = {
    "INSERTED_DATE": DebtPosition.created_at,
    "IUPD": DebtPosition.iupd,
    "STATUS": DebtPosition.status,
    "COMPANY_NAME": GpdPosition.company_name,
}
_STATUS_FILTER = {
    "DRAFT": [P.DRAFT],
    "PUBLISHED": [P.DRAFT],  # with a pending publication, below
    "VALID": [P.PAYABLE, P.IN_PROGRESS],
    "INVALID": [P.CANCELLED],
    "UNPAYABLE": [P.CANCELLED, P.EXPIRED],
    "EXPIRED": [P.EXPIRED],
    "PARTIALLY_PAID": [P.PARTIALLY_PAID],
    "PAID": [P.PAID],
    "REPORTED": [P.REPORTED, P.RECONCILED],
}


def _date(request: Any, name: str) -> dt.date | None:
    value = request.GET.get(name)
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise GpdError(400, "Bad Request", f"{name} must be a date (yyyy-MM-dd)") from None


def _int(request: Any, name: str, default: int, low: int, high: int) -> int:
    value = request.GET.get(name)
    if value is None:
        return default
    if not (value.isascii() and value.isdigit()) or not low <= int(value) <= high:
        raise GpdError(400, "Bad Request", f"{name} must be an integer from {low} to {high}")
    return int(value)


def _range(request: Any, prefix: str) -> tuple[dt.date, dt.date] | None:
    """GPD's rule: one end given, the other is 30 days away."""
    start, end = _date(request, f"{prefix}_from"), _date(request, f"{prefix}_to")
    if start is None and end is None:
        return None
    start = start or end - dt.timedelta(days=30)  # type: ignore[operator]
    end = end or start + dt.timedelta(days=30)
    if end < start:
        raise GpdError(400, "Bad Request", f"{prefix}_to is before {prefix}_from")
    return start, end


@view_config(route_name="gpd.v1.positions", request_method="GET")
@view_config(route_name="gpd.v3.positions", request_method="GET")
def list_positions(request: Any) -> Response:
    """getOrganizationDebtPositions: a page of the Ente's positions."""
    ente = _ente(request)
    version = _version(request)
    limit = _int(request, "limit", 10, 1, 50)
    page = _int(request, "page", 0, 0, 1_000_000)
    due, paid = _range(request, "due_date"), _range(request, "payment_date")
    if due and paid:
        raise GpdError(
            400, "Bad Request", "the due dates interval excludes the payment dates interval"
        )
    status = request.GET.get("status")
    allowed = STATUSES[version]
    if status is not None and status not in allowed:
        raise GpdError(400, "Bad Request", f"status must be one of {', '.join(allowed)}")
    orderby = request.GET.get("orderby", "INSERTED_DATE")
    ordering = request.GET.get("ordering", "DESC")
    if orderby not in _ORDER or ordering not in ("ASC", "DESC"):
        raise GpdError(400, "Bad Request", "orderby or ordering is not one of GPD's values")
    query = (
        sa.select(DebtPosition, GpdPosition)
        .outerjoin(GpdPosition, GpdPosition.position_id == DebtPosition.id)
        .where(DebtPosition.ente_id == ente.id, GpdPosition.deleted_at.is_(None))
    )
    if status:
        query = query.where(DebtPosition.status.in_(_STATUS_FILTER[status]))
        pending = sa.func.coalesce(GpdPosition.publish_pending, False)
        if status == "PUBLISHED":
            query = query.where(pending.is_(True))
        elif status == "DRAFT":
            query = query.where(pending.is_(False))
    codes = _codes(request)
    if codes is not None:
        reach = sa.select(PaymentOption.id).where(
            PaymentOption.position_id == DebtPosition.id,
            sa.func.substr(PaymentOption.notice_number, 1, 3).in_(sorted("3" + c for c in codes)),
        )
        query = query.where(reach.exists())
    if due:
        query = query.where(DebtPosition.due_date.between(*due))
    if paid:
        paid_in = sa.select(PaymentOption.id).where(
            PaymentOption.position_id == DebtPosition.id,
            PaymentOption.paid_at >= clock.day_start(paid[0]),
            PaymentOption.paid_at < clock.day_start(paid[1] + dt.timedelta(days=1)),
        )
        query = query.where(paid_in.exists())
    found = request.db.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
    column = _ORDER[orderby]
    order = column.asc() if ordering == "ASC" else column.desc()
    rows = request.db.execute(
        query.order_by(order, DebtPosition.id).limit(limit).offset(page * limit)
    ).all()
    positions = [r[0] for r in rows]
    receipts = _receipts(request, positions)
    audit_personal_data(request, ente, view="gpd.positions", target="positions", rows=len(rows))
    return _answer(
        {
            "payment_position_list": [
                _shape(request, ente, p, g, response=True, receipts=receipts) for p, g in rows
            ],
            "page_info": {
                "page": page,
                "limit": limit,
                "items_found": len(rows),
                "total_pages": max(1, math.ceil(found / limit)),
            },
        }
    )


_V1_STATUSES = ("DRAFT", "PUBLISHED", "VALID", "INVALID", "EXPIRED", "PARTIALLY_PAID", "PAID")
STATUSES = {
    "v1": (*_V1_STATUSES, "REPORTED"),
    "v3": ("DRAFT", "PUBLISHED", "VALID", "UNPAYABLE", "PARTIALLY_PAID", "PAID"),
}


@view_config(route_name="gpd.v1.transfers", request_method="PATCH")
def update_iban(request: Any) -> Response:
    """updateTransferIbanMassive: transfers still payable at ``oldIban`` move to ``newIban``."""
    ente = _ente(request)
    old = request.GET.get("oldIban")
    if not old:
        raise GpdError(400, "Bad Request", "oldIban is required")
    limit = _int(request, "limit", 2000, 1, 2000)
    body = _body(request, shapes.IbanChange)
    changed = _run(lambda: service.update_iban(request.db, ente, old, body.new_iban, limit=limit))
    record(
        request, ente, "debt_position.iban_change", "transfers", {"via": "gpd", "changed": changed}
    )
    return _answer({"description": f"{changed} transfers updated", "updatedTransfers": changed})


def _option_by_iuv(request: Any, ente: Ente) -> PaymentOption:
    option = request.db.scalar(
        sa.select(PaymentOption)
        .outerjoin(GpdPosition, GpdPosition.position_id == PaymentOption.position_id)
        .where(
            PaymentOption.ente_id == ente.id,
            PaymentOption.iuv == request.matchdict["iuv"],
            GpdPosition.deleted_at.is_(None),
        )
    )
    if option is None:
        raise GpdError(404, "Not found", f"No payment option with IUV {request.matchdict['iuv']}")
    _within_codes(request, [option.notice_number])
    return option


@view_config(route_name="gpd.v1.option", request_method="GET")
def read_option(request: Any) -> Response:
    """GPD's getOrganizationPaymentOptionByIUV (``PaymentsModelResponse``)."""
    ente = _ente(request)
    option = _option_by_iuv(request, ente)
    gpd = request.db.get(GpdPosition, option.position_id)
    receipt = _receipts(request, [option.position]).get(option.id)
    body = shapes.option_v1(
        option,
        gpd,
        receipt,
        response=True,
        ente_code=ente.fiscal_code,
        notification_fee=fees_of(request.db, [option.id]).get(option.id, 0),
    )
    return _answer(body)


class FeeIn(shapes._Gpd):
    notification_fee: shapes.Cents


@view_config(route_name="gpd.v1.notification_fee", request_method="PUT")
def set_notification_fee(request: Any) -> Response:
    """GPD's updateNotificationFee (called for SEND): the fee is added to the option's amount
    and to the Ente's transfer; the option as ``PaymentsModelResponse``."""
    ente = _ente(request)
    option = _option_by_iuv(request, ente)
    body = _body(request, FeeIn)
    # payhub's extension: ?source=send marks a fee SEND prices (refreshed at paGetPayment)
    source = "send" if request.GET.get("source") == "send" else "api"
    _run(
        lambda: fees.set_notification_fee(
            request.db, option.id, body.notification_fee, source=source
        )
    )
    record(
        request,
        ente,
        "payment_option.notification_fee",
        f"notice:{option.notice_number}",
        {"via": "gpd", "fee_cents": body.notification_fee},
    )
    return read_option(request)


@view_config(route_name="gpd.v1.option_position", request_method="GET")
def read_position_by_iuv(request: Any) -> Response:
    """GPD's getDebtPositionByIUV: the position holding this IUV."""
    ente = _ente(request)
    option = _option_by_iuv(request, ente)
    position = option.position
    gpd = request.db.get(GpdPosition, position.id)
    audit_personal_data(request, ente, view="gpd.position", target=f"position:{position.iupd}")
    return _answer(_shape(request, ente, position, gpd, response=True))


class AlreadyPaidIn(shapes._Gpd):
    payment_date: dt.datetime | None = None


@view_config(route_name="gpd.v1.already_paid", request_method="POST")
def set_already_paid(request: Any) -> Response:
    """GPD's setPaymentOptionAsAlreadyPaid: the notice was paid outside pagoPA; it becomes
    paid with no receipt (hub.positions.gpd.set_already_paid). 404 unknown notice, 409 paid
    already or being paid, 422 not payable (draft, cancelled, expired). The option as
    ``PaymentsModelResponse``, ``idReceipt`` and ``pspCompany`` saying ``MARKED_AS_PAID`` as
    GPD's do."""
    ente = _ente(request)
    nav = request.matchdict["nav"]
    _within_codes(request, [nav])
    body = _body(request, AlreadyPaidIn)
    try:
        option = service.set_already_paid(
            request.db,
            ente,
            nav,
            paid_at=service.validity_instant(body.payment_date),
            via=_cause(request),
        )
    except NotFound as exc:
        raise GpdError(404, "Not found", str(exc)) from None
    except (PaymentUnknown, PaymentCancelled, PaymentExpired) as exc:
        raise GpdError(422, "Unprocessable Entity", str(exc)) from None
    except (PaymentAlreadyPaid, Conflict, OtherPlanInProgress) as exc:
        raise GpdError(409, "Conflict", str(exc)) from None
    record(
        request,
        ente,
        "payment_option.already_paid",
        f"notice:{nav}",
        {"via": "gpd", "paid_at": option.paid_at.isoformat() if option.paid_at else None},
    )
    answer = shapes.option_v1(
        option,
        request.db.get(GpdPosition, option.position_id),
        None,
        response=True,
        ente_code=ente.fiscal_code,
        notification_fee=fees_of(request.db, [option.id]).get(option.id, 0),
    )
    answer.update(idReceipt=MARKED_AS_PAID, pspCompany=MARKED_AS_PAID)
    return _answer(answer)
