"""The intermediary's side of activation and change requests in the administration API
(included by web.api.admin; docs/operators/activation.md):

* ``POST /admin/enti/{ec}/activation-requests`` ``{"kind", "subject", "serviceCode"?,
  "complete"?, "note"?}`` → 201: the intermediary records a request the Ente sent;
* ``GET /admin/activation-requests`` (``state=open`` for the open ones) and
  ``GET /admin/activation-requests/{id}`` (with its history);
* ``POST /admin/activation-requests/{id}/steps`` ``{"step", "station"?, "note"?}`` → 200: the
  intermediary's steps (``configure_test``, ``configure_production``, ``ask_ente``,
  ``wait_pagopa``, ``resume``, ``close``, ``reject``) through hub.onboarding.requests.move; a
  step the request's state does not allow is a 409 ``step_not_allowed``.

Only requests of the Enti the key's stations serve: any other is 404. A configuration step
without ``station`` uses the intermediary's station of that environment already serving the
Ente, else its first one; never another intermediary's. Steps are recorded with the actor
``api_key:<prefix>``, as the rest of the administration.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from pyramid.response import Response
from pyramid.view import view_config
from sqlalchemy.orm import Session

from hub.admin import service as svc
from hub.config import from_registry
from hub.errors import NotFound
from hub.models import ActivationRequest, Station
from hub.onboarding import requests
from hub.onboarding.environments import NoStation
from hub.onboarding.sla import Rules
from web.api import inputs
from web.api.openapi_parts import PROBLEM
from web.api.problems import Problem
from workflows.activation import PRODUCTION_EVENTS, TEST_EVENTS, RequestKind

ID = r"{request_id:[0-9]{1,9}}"
EC = r"{fiscal_code:[0-9]{11}}"
ROUTES = {
    "admin.ente_activation": (f"/admin/enti/{EC}/activation-requests", ("POST",)),
    "admin.activation_requests": ("/admin/activation-requests", ("GET",)),
    "admin.activation_request": (f"/admin/activation-requests/{ID}", ("GET",)),
    "admin.activation_steps": (f"/admin/activation-requests/{ID}/steps", ("POST",)),
}
# the intermediary's steps; the referente's (confirm, report a problem) and the Ente's
# withdrawal are theirs (the e-mailed link, the Ente's own API)
INTERMEDIARY_STEPS = (
    "configure_test",
    "configure_production",
    "ask_ente",
    "wait_pagopa",
    "resume",
    "close",
    "reject",
)
IntermediaryStep = Literal[INTERMEDIARY_STEPS]  # type: ignore[valid-type]


class AdminActivationStepInput(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, alias_generator=to_camel)

    step: IntermediaryStep
    station: Annotated[str, Field(pattern=r"^[0-9]{11}_[0-9]{2}$")] | None = Field(
        None, description="For a configuration step: the station of that environment to use"
    )
    note: Annotated[str, Field(max_length=2000)] | None = None


class AdminActivationListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: Literal["open", "all"] = "all"


def includeme(config: Any) -> None:
    """Included by web.api.admin (same prefix, problems and 405s)."""
    from web.api import add_routes  # with the package's own 405 view

    add_routes(config, ROUTES)


def _summary(request: Any, found: ActivationRequest, *, steps: bool) -> dict[str, Any]:
    rules = Rules.from_settings(from_registry(request.registry))
    return requests.summary(found, rules.clock(found), steps=steps)


def _visible(session: Session, actor: svc.Actor, request_id: int) -> ActivationRequest:
    """The request, if its Ente is one the key's stations serve (else NotFound: 404)."""
    try:
        found = requests.get_request(session, request_id)
    except NotFound:
        raise NotFound(f"no activation request {request_id}") from None
    try:
        svc.get_ente(session, actor, found.ente.fiscal_code)
    except NotFound:
        raise NotFound(f"no activation request {request_id}") from None
    return found


def _station_for(
    session: Session, actor: svc.Actor, found: ActivationRequest, step: str, code: str | None
) -> str | None:
    """The station a configuration step uses: the one named (the intermediary's), else its
    station of that environment already serving the Ente, else its first one."""
    if step not in TEST_EVENTS | PRODUCTION_EVENTS:
        if code:
            raise Problem(422, "validation_failed", "a station only for a configuration step",
                          field="station")  # fmt: skip
        return None
    if code:
        try:
            svc.get_station(session, actor, code)
        except NotFound as exc:
            raise Problem(422, "unknown_station", str(exc), field="station") from None
        return code
    if found.kind == RequestKind.DEACTIVATION:
        return None  # it unlinks the stations serving the Ente; none to choose
    test = step in TEST_EVENTS
    mine = [
        s
        for s in found.ente.stations
        if s.test == test and (not actor.scoped or s.intermediary_id == actor.intermediary_id)
    ]
    if mine:
        return mine[0].station_code
    statement = sa.select(Station).where(Station.test == test).order_by(Station.id)
    if actor.scoped:
        statement = statement.where(Station.intermediary_id == actor.intermediary_id)
    station = session.scalars(statement).first()
    if station is None:
        what = "test" if test else "production"
        raise NoStation(f"the intermediary has no {what} station: register one first")
    return station.station_code


def _handle(work: Any, status: int = 200) -> Any:
    from web.api.admin import handle  # admin imports this module

    return handle(work, status)


@view_config(route_name="admin.ente_activation", request_method="POST")
def open_request(request: Any) -> Response:
    from web.api.activation import ActivationRequestInput

    code = request.matchdict["fiscal_code"]

    def work(r: Any, a: svc.Actor) -> Any:
        ente = svc.get_ente(r.db, a, code)
        data = inputs.body(r, ActivationRequestInput)
        if data.service_code and data.service_code not in {s.code for s in ente.services}:
            raise Problem(422, "unknown_service", f"Ente {code} has no service "
                          f"{data.service_code}", field="serviceCode")  # fmt: skip
        opened = requests.open_request(
            r.db,
            ente=ente,
            kind=data.kind,
            subject=data.subject,
            actor=a.name,
            service_code=data.service_code,
            complete=data.complete,
            note=data.note,
        )
        return _summary(r, opened, steps=True)

    return _handle(work, 201)(request)


@view_config(route_name="admin.activation_requests", request_method="GET")
def list_requests(request: Any) -> Response:
    def work(r: Any, a: svc.Actor) -> Any:
        query = inputs.query(r, AdminActivationListQuery)
        ente_ids = {e.id for e in svc.list_enti(r.db, a)} if a.scoped else None
        found = requests.list_requests(r.db, ente_ids=ente_ids, open_only=query.state == "open")
        return {"items": [_summary(r, f, steps=False) for f in found]}

    return _handle(work)(request)


@view_config(route_name="admin.activation_request", request_method="GET")
def show_request(request: Any) -> Response:
    request_id = int(request.matchdict["request_id"])
    return _handle(lambda r, a: _summary(r, _visible(r.db, a, request_id), steps=True))(request)


@view_config(route_name="admin.activation_steps", request_method="POST")
def take_step(request: Any) -> Response:
    request_id = int(request.matchdict["request_id"])

    def work(r: Any, a: svc.Actor) -> Any:
        found = _visible(r.db, a, request_id)
        data = inputs.body(r, AdminActivationStepInput)
        station = _station_for(r.db, a, found, data.step, data.station)
        requests.move(r.db, found.id, data.step, actor=a.name, note=data.note, station_code=station)
        r.db.expire(found)
        return _summary(r, requests.get_request(r.db, found.id), steps=True)

    return _handle(work)(request)


# --- the OpenAPI document's part (web.api.admin.openapi_paths adds it) ------------------------

_REQUEST = {"$ref": "#/components/schemas/ActivationRequestOutput"}
_LIST = {"$ref": "#/components/schemas/ActivationRequestList"}


def openapi_paths() -> dict[str, Any]:
    from web.api.admin import _ERRORS, _P

    request_id = {
        "name": "requestId",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": r"^[0-9]{1,9}$"},
        "example": "1",
    }

    def operation(
        op_id: str, summary: str, params: list, body: str | None, answer: dict, status: int,
        errors: tuple[int, ...],
    ) -> dict[str, Any]:  # fmt: skip
        out: dict[str, Any] = {
            "operationId": op_id,
            "summary": summary,
            "tags": ["administration"],
            "parameters": params,
            "responses": {
                str(status): {
                    "description": "Done",
                    "content": {"application/json": {"schema": answer}},
                }
            }
            | {str(c): {"description": _ERRORS[c], "content": PROBLEM} for c in errors},
        }
        if body is not None:
            out["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}
                },
            }
        return out

    writes = (400, 401, 404, 405, 409, 415, 422)
    state = {"name": "state", "in": "query", "schema": {"type": "string", "enum": ["open", "all"]}}
    return {
        "/admin/enti/{fiscalCode}/activation-requests": {
            "post": operation(
                "adminOpenActivationRequest",
                "Record an activation or change request the Ente sent",
                [_P["fiscal_code"]],
                "ActivationRequestInput",
                _REQUEST,
                201,
                writes,
            )
        },
        "/admin/activation-requests": {
            "get": operation(
                "adminListActivationRequests",
                "Requests of its Enti, newest first, with their clock",
                [state],
                None,
                _LIST,
                200,
                (400, 401, 405),
            )
        },
        "/admin/activation-requests/{requestId}": {
            "get": operation(
                "adminGetActivationRequest",
                "A request of one of its Enti, with its history",
                [request_id],
                None,
                _REQUEST,
                200,
                (401, 404, 405),
            )
        },
        "/admin/activation-requests/{requestId}/steps": {
            "post": operation(
                "adminTakeActivationStep",
                "Take one of the intermediary's steps (409 if the state does not allow it)",
                [request_id],
                "AdminActivationStepInput",
                _REQUEST,
                200,
                writes,
            )
        },
    }
