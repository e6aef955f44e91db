"""An Ente's activation and change requests (issue 15; docs/operators/activation.md).

* ``POST …/enti/{ec}/activation-requests`` ``{"kind", "subject", "serviceCode"?, "complete"?,
  "note"?}`` → 201: the Ente sends a request (``complete: false``: something is still missing,
  it waits for the Ente);
* ``GET …/activation-requests`` lists the Ente's requests (``state=open`` for the open ones
  only), newest first, each with its clock in working days; ``GET …/{id}`` adds the history;
* ``POST …/{id}/steps`` ``{"step", "note"?}`` → 200: the Ente's steps: ``cancel`` (withdraw),
  ``resume`` (it sent what was missing), ``confirm_test``, ``confirm_production``,
  ``report_problem``; a step not allowed now is a 409.

The intermediary's steps (configure, pause for pagoPA, close, reject) are taken in the
dashboard or with ``payhub activation``. Every step is recorded with the key as actor
(``api:<prefix>``).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from pyramid.response import Response
from pyramid.view import view_config

from hub.config import from_registry
from hub.errors import Conflict, NotFound
from hub.models import ActivationRequest
from hub.onboarding import requests
from hub.onboarding.sla import Rules
from web.api import inputs
from web.api.auth import authorised_ente
from web.api.problems import Problem, not_found
from web.api.responses import model_response
from workflows.activation import STATES, RequestKind

EC = r"{fiscal_code:[0-9]{11}}"
ID = r"{request_id:[0-9]{1,9}}"
ROUTES = {
    "api.activation_requests": (f"/enti/{EC}/activation-requests", ("GET", "POST")),
    "api.activation_request": (f"/enti/{EC}/activation-requests/{ID}", ("GET",)),
    "api.activation_steps": (f"/enti/{EC}/activation-requests/{ID}/steps", ("POST",)),
}
EnteStep = Literal[tuple(sorted(requests.ENTE_EVENTS))]  # type: ignore[valid-type]
State = Literal[tuple(s.value for s in STATES)]  # type: ignore[valid-type]
Kind = Literal[tuple(k.value for k in RequestKind)]  # type: ignore[valid-type]
Note = Annotated[str, Field(max_length=2000)]


class ActivationRequestInput(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, alias_generator=to_camel)

    kind: Kind = "activation"
    subject: Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S")]
    service_code: Annotated[str, Field(min_length=1, max_length=35)] | None = Field(
        None, description="For one service of the Ente only"
    )
    complete: bool = Field(True, description="False: something is missing, to be sent")
    note: Note | None = None


class ActivationStepInput(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, alias_generator=to_camel)

    step: EnteStep
    note: Note | None = None


class _Out(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class ActivationClockOutput(_Out):
    status: Literal["ok", "near", "late", "done", "done_late", "stopped"]
    working_days_used: str = Field(examples=["3.5"])
    working_days_left: str
    target_days: str
    running: bool
    started_at: dt.datetime | None
    due_at: dt.datetime | None = Field(description="When the target is reached if it runs on")


class ActivationStepOutput(_Out):
    event: str
    from_state: State | None
    to_state: State
    actor: str
    note: str | None
    station_code: str | None
    at: dt.datetime


class ActivationRequestOutput(_Out):
    id: int
    kind: Kind
    ente_fiscal_code: str
    service_code: str | None
    subject: str
    state: State
    paused_from: State | None
    allowed_steps: list[str] = Field(description="Every step allowed now (the Ente's and not)")
    opened_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    ente_in_production: bool
    clock: ActivationClockOutput
    steps: list[ActivationStepOutput] | None = None


class ActivationRequestList(_Out):
    items: list[ActivationRequestOutput]


class ActivationListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: Literal["open", "all"] = "all"


def includeme(config: Any) -> None:
    """Included by web.api (same prefix, problems and 405s); its scan finds the views."""
    from web.api import add_routes  # with the package's own 405 view

    add_routes(config, ROUTES)


def _out(request: Any, found: ActivationRequest, *, steps: bool) -> ActivationRequestOutput:
    rules = Rules.from_settings(from_registry(request.registry))
    return ActivationRequestOutput.model_validate(
        requests.summary(found, rules.clock(found), steps=steps)
    )


def _actor(request: Any) -> str:
    return f"api:{request.api_key_used.prefix}"


def _own(request: Any, ente_id: int) -> ActivationRequest:
    try:
        found = requests.get_request(request.db, int(request.matchdict["request_id"]))
    except NotFound:
        raise not_found("activation request") from None
    if found.ente_id != ente_id:
        raise not_found("activation request")
    return found


@view_config(route_name="api.activation_requests", request_method="POST")
def open_request(request: Any) -> Response:
    ente = authorised_ente(request)
    data = inputs.body(request, ActivationRequestInput)
    try:
        opened = requests.open_request(
            request.db,
            ente=ente,
            kind=data.kind,
            subject=data.subject,
            actor=_actor(request),
            service_code=data.service_code,
            complete=data.complete,
            note=data.note,
        )
    except NotFound as exc:
        raise Problem(422, "unknown_service", str(exc), field="serviceCode") from None
    except Conflict as exc:
        raise Problem(409, exc.code, str(exc)) from None
    location = request.route_path(
        "api.activation_request", fiscal_code=ente.fiscal_code, request_id=opened.id
    )
    return model_response(_out(request, opened, steps=True), 201, {"Location": location})


@view_config(route_name="api.activation_requests", request_method="GET")
def list_requests(request: Any) -> Response:
    ente = authorised_ente(request)
    query = inputs.query(request, ActivationListQuery)
    found = requests.list_requests(request.db, ente_ids={ente.id}, open_only=query.state == "open")
    return model_response(
        ActivationRequestList(items=[_out(request, r, steps=False) for r in found])
    )


@view_config(route_name="api.activation_request", request_method="GET")
def show_request(request: Any) -> Response:
    ente = authorised_ente(request)
    if request.GET:
        raise Problem(
            400, "invalid_query", "no query parameters here", field=next(iter(request.GET))
        )
    return model_response(_out(request, _own(request, ente.id), steps=True))


@view_config(route_name="api.activation_steps", request_method="POST")
def take_step(request: Any) -> Response:
    ente = authorised_ente(request)
    found = _own(request, ente.id)
    data = inputs.body(request, ActivationStepInput)
    try:
        requests.move(
            request.db,
            found.id,
            data.step,
            actor=_actor(request),
            note=data.note,
            ente_side=True,
        )
    except Conflict as exc:
        raise Problem(409, exc.code, str(exc), field="step") from None
    request.db.expire(found)
    return model_response(_out(request, requests.get_request(request.db, found.id), steps=True))
