"""An Ente's daily-file delivery targets over the REST API, with the Ente's API key:

* ``GET …/enti/{ec}/daily-file-targets`` — every target, enabled or not (never a secret);
* ``POST …/enti/{ec}/daily-file-targets`` ``{"kind": "sftp"|"ftps"|"email", …}`` → 201;
* ``POST …/enti/{ec}/daily-file-targets/{id}/disable`` → 200 (409 if already disabled).

The checks are hub.dailyfile.targets' (the dashboard's and the CLI's): the host against the
outgoing policy (``payhub.outgoing_allowed_networks``), the SFTP host key pinned, the e-mail
addresses; a bad one is a 422 problem document naming the field. ``password`` and
``privateKey`` are write-only: no answer, audit event or log line holds them.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from pyramid.response import Response
from pyramid.view import view_config

from hub import http
from hub.dailyfile import targets
from hub.errors import Conflict
from web.api import inputs
from web.api.auth import authorised_ente, record
from web.api.openapi_parts import ENTE_FISCAL_CODE, PROBLEM
from web.api.problems import Problem, not_found
from web.api.responses import model_response

EC = r"{fiscal_code:[0-9]{11}}"
ROUTES = {
    "api.daily_file_targets": (f"/enti/{EC}/daily-file-targets", ("GET", "POST")),
    "api.daily_file_target_disable": (
        f"/enti/{EC}/daily-file-targets/{{target_id:[0-9]{{1,9}}}}/disable",
        ("POST",),
    ),
}
# hub.dailyfile.targets' field names in the API's spelling
FIELDS = {"service_code": "service", "host_key": "hostKey", "private_key": "privateKey"}
WRITE_ONLY = {"writeOnly": True}


class DailyFileTargetInput(BaseModel):
    """A delivery target. SFTP needs host, username, hostKey and a password or a privateKey;
    FTPS host, username and password; e-mail recipients."""

    model_config = ConfigDict(extra="forbid", strict=True, alias_generator=to_camel)

    kind: Literal["sftp", "ftps", "email"]
    service: Annotated[str, Field(min_length=1, max_length=35)] | None = Field(
        None, description="Only this service's files; default every service of the Ente"
    )
    host: Annotated[str, Field(min_length=1, max_length=255)] | None = Field(
        None, description="SFTP/FTPS: host name or IPv4 address", examples=["sftp.comune.it"]
    )
    port: Annotated[int, Field(ge=1, le=65535)] | None = Field(
        None, description="SFTP/FTPS: default 22 (SFTP), 21 (FTPS, explicit TLS)"
    )
    username: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    password: Annotated[str, Field(min_length=1, max_length=500)] | None = Field(
        None, description="SFTP/FTPS: stored, never returned", json_schema_extra=WRITE_ONLY
    )
    private_key: Annotated[str, Field(min_length=1, max_length=20_000)] | None = Field(
        None,
        description="SFTP: an unencrypted OpenSSH or PEM private key, instead of a password; "
        "stored, never returned",
        json_schema_extra=WRITE_ONLY,
    )
    host_key: Annotated[str, Field(min_length=1, max_length=2000)] | None = Field(
        None,
        description="SFTP (required): the server's public host key, as ssh-keyscan prints it",
        examples=["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA..."],
    )
    directory: Annotated[str, Field(min_length=1, max_length=255)] | None = Field(
        None, description="SFTP/FTPS: the remote folder (no ..)"
    )
    recipients: (
        Annotated[list[Annotated[str, Field(max_length=254)]], Field(max_length=20)] | None
    ) = Field(None, description="E-mail: the addresses", examples=[["ragioneria@comune.it"]])


class _Out(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class DailyFileTargetOutput(_Out):
    id: int
    kind: Literal["sftp", "ftps", "email"]
    service: str | None = Field(description="null: every service")
    where: str = Field(description="Where files go, e.g. sftp://user@host:22/folder")
    host: str | None
    port: int | None
    username: str | None
    directory: str | None
    recipients: list[str]
    authentication: Literal["password", "key"] | None = Field(
        description="How payhub logs in (the secret itself is never returned)"
    )
    host_key: str | None = Field(description="SFTP: the pinned host key")
    enabled: bool
    created_at: dt.datetime


class DailyFileTargetList(_Out):
    items: list[DailyFileTargetOutput]


MODELS: list[tuple[type[BaseModel], Any]] = [
    (DailyFileTargetInput, "validation"),
    (DailyFileTargetOutput, "serialization"),
    (DailyFileTargetList, "serialization"),
]


def includeme(config: Any) -> None:
    """Included by web.api (route prefix /api/v1); other methods answer 405."""
    from web.api import add_routes  # with the package's own 405 view

    add_routes(config, ROUTES)


def _out(target: Any) -> DailyFileTargetOutput:
    shown = targets.describe(target)
    shown["service"] = shown.pop("service_code")
    return DailyFileTargetOutput(**shown)


@view_config(route_name="api.daily_file_targets", request_method="GET")
def list_targets(request: Any) -> Response:
    ente = authorised_ente(request)
    items = [_out(t) for t in targets.targets_of(request.db, ente.id)]
    return model_response(DailyFileTargetList(items=items))


@view_config(route_name="api.daily_file_targets", request_method="POST")
def add_target(request: Any) -> Response:
    ente = authorised_ente(request)
    data = inputs.body(request, DailyFileTargetInput)
    try:
        target = targets.add_target(
            request.db,
            ente,
            data.kind,
            service_code=data.service,
            host=data.host,
            port=data.port,
            username=data.username,
            password=data.password,
            private_key=data.private_key,
            pinned_host_key=data.host_key,
            directory=data.directory,
            recipients=data.recipients,
            policy=http.url_policy(),  # the process's (hub.config.start), as the deliveries
        )
    except targets.BadTarget as exc:
        field = FIELDS.get(exc.field, exc.field)
        raise Problem(422, "invalid_target", f"{field}: {exc.message}", field=field) from None
    record(
        request,
        ente,
        "api.daily_file_target_add",
        f"daily_file_target:{target.id}",
        targets.audit_detail(target),
    )
    return model_response(_out(target), 201)


@view_config(route_name="api.daily_file_target_disable", request_method="POST")
def disable_target(request: Any) -> Response:
    ente = authorised_ente(request)
    target = targets.find(request.db, ente.id, int(request.matchdict["target_id"]))
    if target is None:
        raise not_found("delivery target")
    try:
        targets.disable(request.db, target)
    except Conflict as exc:
        raise Problem(409, "already_disabled", str(exc)) from None
    record(
        request,
        ente,
        "api.daily_file_target_disable",
        f"daily_file_target:{target.id}",
        targets.audit_detail(target),
    )
    return model_response(_out(target))


def openapi_paths() -> dict[str, Any]:
    """This module's part of the OpenAPI document (web/api/openapi.py); the schemas are
    ``MODELS``, in the document's components."""
    target_id = {
        "name": "targetId",
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
        "description": "The target's id",
    }

    def errors(*codes: int) -> dict[str, Any]:
        text = {
            400: "Malformed JSON",
            401: "No valid API key",
            404: "No such Ente for this key, or no such target",
            405: "Method not allowed",
            409: "The target is already disabled",
            415: "Body is not application/json",
            422: "A field is not valid (`field` names it): a host payhub may not connect to, "
            "no host key for SFTP, a bad e-mail address, …",
        }
        return {str(c): {"description": text[c], "content": PROBLEM} for c in codes}

    def body(name: str) -> dict[str, Any]:
        return {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}

    tag = ["daily files"]
    return {
        "/enti/{fiscalCode}/daily-file-targets": {
            "get": {
                "operationId": "listDailyFileTargets",
                "summary": "Where the Ente's daily files are delivered (never a secret)",
                "tags": tag,
                "parameters": [ENTE_FISCAL_CODE],
                "responses": {
                    "200": {"description": "The targets", "content": body("DailyFileTargetList")},
                    **errors(401, 404, 405),
                },
            },
            "post": {
                "operationId": "addDailyFileTarget",
                "summary": "Add a delivery target (SFTP, FTPS or e-mail)",
                "tags": tag,
                "parameters": [ENTE_FISCAL_CODE],
                "requestBody": {"required": True, "content": body("DailyFileTargetInput")},
                "responses": {
                    "201": {"description": "Added", "content": body("DailyFileTargetOutput")},
                    **errors(400, 401, 404, 405, 415, 422),
                },
            },
        },
        "/enti/{fiscalCode}/daily-file-targets/{targetId}/disable": {
            "post": {
                "operationId": "disableDailyFileTarget",
                "summary": "Disable a delivery target (no new delivery goes there)",
                "tags": tag,
                "parameters": [ENTE_FISCAL_CODE, target_id],
                "responses": {
                    "200": {"description": "Disabled", "content": body("DailyFileTargetOutput")},
                    **errors(401, 404, 405, 409),
                },
            }
        },
    }
