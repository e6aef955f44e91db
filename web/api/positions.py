"""Debt-position endpoints: create, read, list, change, publish, cancel.

Views never commit: pyramid_tm commits after the view returns, or aborts on any problem, so
a refused write leaves nothing behind (not even its audit row).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Any

import sqlalchemy as sa
from pyramid.response import Response
from pyramid.view import view_config
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError

from hub import idempotency
from hub.errors import Conflict
from hub.models import DebtPosition, Ente, PaymentOption, PaymentService
from hub.positions.inputs import PositionData
from hub.positions.writer import (
    InvalidPosition,
    cancel_position,
    create_position,
    ensure_changeable,
    lock_options,
    publish_position,
    replace_position,
)
from hub.values.identifiers import debtor_code_problem
from web.api import inputs, paging, schemas
from web.api.auth import audit_personal_data, authorised_ente, record
from web.api.problems import Problem, camel_path, not_found
from web.api.responses import json_response
from web.api.serialize import positions_json
from workflows.payment import IllegalTransition

ROUTE = "api.position"


def _etag(position: DebtPosition) -> str:
    return f'"{position.version}"'


def _position_response(
    request: Any, position: DebtPosition, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    [body] = positions_json(request.db, [position])
    return json_response(request, body, status, {"ETag": _etag(position), **(headers or {})})


def _find(request: Any, ente: Ente, *, lock: bool = False) -> DebtPosition:
    query = sa.select(DebtPosition).where(
        DebtPosition.ente_id == ente.id, DebtPosition.iupd == request.matchdict["iupd"]
    )
    if lock:
        query = query.with_for_update()
    position = request.db.scalar(query)
    if position is None:
        raise not_found("debt position")
    return position


def _service_id(request: Any, ente: Ente, code: str | None) -> int | None:
    if code is None:
        return None
    service_id = request.db.scalar(
        sa.select(PaymentService.id).where(
            PaymentService.ente_id == ente.id, PaymentService.code == code
        )
    )
    if service_id is None:
        raise Problem(
            422, "unknown_service", f"no service {code!r} for this Ente", field="serviceCode"
        )
    return service_id


def _check_if_match(request: Any, position: DebtPosition, *, required: bool) -> None:
    given = request.headers.get("If-Match")
    if given is not None and len(given) > 64:
        raise Problem(400, "invalid_header", "at most 64 characters", field="If-Match")
    if given is None:
        if required:
            raise Problem(
                428,
                "precondition_required",
                "send If-Match with the ETag you read",
                field="If-Match",
            )
        return
    tags = {t.strip().removeprefix("W/") for t in given.split(",")}
    if "*" not in tags and _etag(position) not in tags:
        raise Problem(
            412,
            "version_mismatch",
            f"the position is now at version {position.version}; read it again",
            field="If-Match",
        )


def _check_free_notices(
    request: Any, ente: Ente, data: PositionData, own: DebtPosition | None = None
) -> None:
    for i, option in enumerate(data.options):
        if option.notice_number is None:
            continue
        holder = request.db.scalar(
            sa.select(PaymentOption.position_id).where(
                PaymentOption.ente_id == ente.id,
                PaymentOption.notice_number == option.notice_number,
            )
        )
        if holder is not None and (own is None or holder != own.id):
            raise Problem(
                409,
                "notice_number_taken",
                "this notice number is already used",
                field=f"options[{i}].noticeNumber",
            )


def _domain_errors(fn: Any) -> Any:
    """Map hub's errors to problems: bad input 422 naming the field, rule conflicts 409."""

    def wrapper(request: Any) -> Any:
        try:
            return fn(request)
        except InvalidPosition as exc:
            raise Problem(
                422, "invalid_position", str(exc).split(": ", 1)[-1], field=camel_path(exc.field)
            ) from None
        except (Conflict, IllegalTransition) as exc:
            raise Problem(409, getattr(exc, "code", "conflict"), str(exc)) from None
        except StaleDataError:
            raise Problem(
                412,
                "version_mismatch",
                "the position changed meanwhile; read it again",
                field="If-Match",
            ) from None

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def _publish_flag(request: Any) -> bool:
    value = request.GET.get("publish", "false")
    if (
        value not in ("true", "false")
        or len(request.GET) > 1
        or (request.GET and "publish" not in request.GET)
    ):
        raise Problem(
            400,
            "invalid_query",
            "publish must be true or false (the only query parameter)",
            field="publish",
        )
    return value == "true"


def _iupd_taken(request: Any, ente: Any, iupd: str) -> bool:
    return bool(
        request.db.scalar(
            sa.select(DebtPosition.id).where(
                DebtPosition.ente_id == ente.id, DebtPosition.iupd == iupd
            )
        )
    )


@view_config(route_name="api.positions", request_method="POST")
@_domain_errors
def create(request: Any) -> Response:
    """Create a position (optionally published). Idempotency-Key makes retries safe."""
    ente = authorised_ente(request)
    publish = _publish_flag(request)
    data = inputs.body(request, schemas.DebtPositionInput)
    key = request.headers.get("Idempotency-Key")
    claim = None
    if key is not None:
        if not 1 <= len(key) <= 255:
            raise Problem(
                400, "invalid_idempotency_key", "1 to 255 characters", field="Idempotency-Key"
            )
        fingerprint = idempotency.fingerprint(
            {"body": data.model_dump(mode="json"), "publish": publish}
        )
        claim = idempotency.claim(request.db, ente.id, key, fingerprint)
        if claim.request_hash != fingerprint:
            raise Problem(
                422,
                "idempotency_key_reused",
                "this Idempotency-Key was used with another request",
                field="Idempotency-Key",
            )
        if claim.status_code is not None:
            return json_response(
                request,
                claim.response,
                claim.status_code,
                {"Location": claim.location or "", "Idempotent-Replayed": "true"},
            )
    if _iupd_taken(request, ente, data.iupd):
        raise Problem(409, "iupd_taken", "a position with this IUPD exists", field="iupd")
    service_id = _service_id(request, ente, data.service_code)
    _check_free_notices(request, ente, data)
    try:
        # two concurrent creates of one IUPD both pass the check above: the database's unique
        # constraint decides, and the loser gets the same 409, never a 500
        with request.db.begin_nested():
            position = create_position(
                request.db,
                ente,
                data,
                service_id=service_id,
                publish=publish,
                cause=f"api:{request.api_key_used.prefix}",
                strict_identifiers=True,
            )
    except IntegrityError:
        raise Problem(
            409, "iupd_taken", "a position with this IUPD (or notice number) exists", field="iupd"
        ) from None
    record(
        request,
        ente,
        "debt_position.create",
        f"debt_position:{position.iupd}",
        {"publish": publish, "options": [o.notice_number for o in position.options]},
    )
    request.db.flush()
    location = request.route_path(ROUTE, fiscal_code=ente.fiscal_code, iupd=position.iupd)
    response = _position_response(request, position, 201, {"Location": location})
    if claim is not None:
        idempotency.remember(claim, 201, response.json_body, location)
    return response


@view_config(route_name=ROUTE, request_method="GET")
def read(request: Any) -> Response:
    ente = authorised_ente(request)
    position = _find(request, ente)
    audit_personal_data(request, ente, view="position", target=f"position:{position.iupd}")
    return _position_response(request, position)


@view_config(route_name="api.notice", request_method="GET")
def read_by_notice(request: Any) -> Response:
    """The position that holds this notice number."""
    ente = authorised_ente(request)
    position = request.db.scalar(
        sa.select(DebtPosition)
        .join(PaymentOption)
        .where(
            PaymentOption.ente_id == ente.id,
            PaymentOption.notice_number == request.matchdict["notice_number"],
        )
    )
    if position is None:
        raise not_found("notice")
    audit_personal_data(request, ente, view="position", target=f"position:{position.iupd}")
    return _position_response(request, position)


@view_config(route_name=ROUTE, request_method="PUT")
@_domain_errors
def replace(request: Any) -> Response:
    """Replace the position (debtor, options, transfers) while nothing is being paid."""
    ente = authorised_ente(request)
    position = _find(request, ente, lock=True)
    data = inputs.body(request, schemas.DebtPositionReplace)
    _check_if_match(request, position, required=True)
    service_id = _service_id(request, ente, data.service_code)
    _check_free_notices(request, ente, data, own=position)
    replace_position(
        request.db,
        ente,
        position,
        data,
        service_id=service_id,
        cause=f"api:{request.api_key_used.prefix}",
    )
    record(
        request,
        ente,
        "debt_position.replace",
        f"debt_position:{position.iupd}",
        {"from_version": position.version},
    )
    request.db.flush()
    return _position_response(request, position)


@view_config(route_name=ROUTE, request_method="PATCH")
@_domain_errors
def patch(request: Any) -> Response:
    """Change some of the position's own fields (not its options)."""
    ente = authorised_ente(request)
    position = _find(request, ente, lock=True)
    changes = inputs.body(request, schemas.DebtPositionPatch).model_dump(exclude_unset=True)
    _check_if_match(request, position, required=True)
    if not changes:
        raise Problem(422, "empty_patch", "give at least one field to change", field="body")
    if any(
        v is None
        for k, v in changes.items()
        if k in {"debtor_type", "debtor_fiscal_code", "debtor_name", "description"}
    ):
        field = next(k for k, v in changes.items() if v is None)
        raise Problem(422, "required_field", "cannot be null", field=camel_path(field))
    ensure_changeable(lock_options(request.db, position))
    if "service_code" in changes:
        position.service_id = _service_id(request, ente, changes.pop("service_code"))
    for name, value in changes.items():
        setattr(position, name, value)
    # the strict identifier checks apply to the result, as on create
    if problem := debtor_code_problem(position.debtor_type, position.debtor_fiscal_code):
        raise Problem(422, "invalid_position", problem, field="debtorFiscalCode")
    record(
        request,
        ente,
        "debt_position.patch",
        f"debt_position:{position.iupd}",
        {"fields": sorted(changes)},
    )
    request.db.flush()
    return _position_response(request, position)


@view_config(route_name="api.position_publish", request_method="POST")
@_domain_errors
def publish(request: Any) -> Response:
    """Make every draft option payable (no-op for an already published position)."""
    ente = authorised_ente(request)
    position = _find(request, ente, lock=True)
    _check_if_match(request, position, required=False)
    ensure_changeable(lock_options(request.db, position))
    publish_position(request.db, position, cause=f"api:{request.api_key_used.prefix}")
    record(request, ente, "debt_position.publish", f"debt_position:{position.iupd}")
    request.db.flush()
    return _position_response(request, position)


@view_config(route_name="api.position_cancel", request_method="POST")
@_domain_errors
def cancel(request: Any) -> Response:
    """Cancel every option through the state machine (the Node then hears "cancelled")."""
    ente = authorised_ente(request)
    position = _find(request, ente, lock=True)
    _check_if_match(request, position, required=False)
    cancel_position(request.db, position, cause=f"api:{request.api_key_used.prefix}")
    record(request, ente, "debt_position.cancel", f"debt_position:{position.iupd}")
    request.db.flush()
    return _position_response(request, position)


def _cursor_id(cursor: str) -> int:
    try:
        value = base64.urlsafe_b64decode(cursor.encode() + b"==").decode()
        if not value.startswith("p") or not value[1:].isdigit() or len(value) > 10:
            raise ValueError(cursor)
        return int(value[1:])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise paging.bad_cursor() from None


def _cursor(position_id: int) -> str:
    return base64.urlsafe_b64encode(f"p{position_id}".encode()).decode().rstrip("=")


@view_config(route_name="api.positions", request_method="GET")
def list_positions(request: Any) -> Response:
    """Positions of the Ente, oldest first, filtered, a page at a time."""
    ente = authorised_ente(request)
    q = inputs.query(request, schemas.ListQuery)
    paging.check_range(q, "due_date_from", "due_date_to", "dueDateFrom")
    paging.check_range(q, "payment_date_from", "payment_date_to", "paymentDateFrom")
    query = sa.select(DebtPosition).where(DebtPosition.ente_id == ente.id)
    if q.status:
        query = query.where(DebtPosition.status == q.status)
    if q.due_date_from:
        query = query.where(DebtPosition.due_date >= q.due_date_from)
    if q.due_date_to:
        query = query.where(DebtPosition.due_date <= q.due_date_to)
    if q.debtor_fiscal_code:
        query = query.where(DebtPosition.debtor_fiscal_code == q.debtor_fiscal_code)
    if q.service_code:
        query = query.where(
            DebtPosition.service_id
            == sa.select(PaymentService.id)
            .where(PaymentService.ente_id == ente.id, PaymentService.code == q.service_code)
            .scalar_subquery()
        )
    if q.payment_date_from or q.payment_date_to:
        paid = sa.select(PaymentOption.id).where(PaymentOption.position_id == DebtPosition.id)
        if q.payment_date_from:
            paid = paid.where(PaymentOption.paid_at >= paging.day_start(q.payment_date_from))
        if q.payment_date_to and q.payment_date_to < dt.date.max:
            paid = paid.where(
                PaymentOption.paid_at < paging.day_start(q.payment_date_to + dt.timedelta(days=1))
            )
        query = query.where(paid.exists())
    if q.cursor:
        query = query.where(DebtPosition.id > _cursor_id(q.cursor))
    # options and their transfers in two more queries for the whole page (no N+1)
    query = query.options(selectinload(DebtPosition.options).selectinload(PaymentOption.transfers))
    rows = list(request.db.scalars(query.order_by(DebtPosition.id).limit(q.limit + 1)))
    more = len(rows) > q.limit
    rows = rows[: q.limit]
    audit_personal_data(request, ente, view="positions", target="positions", rows=len(rows))
    return json_response(
        request,
        {
            "items": positions_json(request.db, rows),
            "nextCursor": _cursor(rows[-1].id) if more else None,
        },
    )
