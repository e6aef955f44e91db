"""The intermediary's administration API under ``/api/v1/admin``: its stations, the Enti they
serve (registry data, contacts, accounts, logo), their payment services (form, back-office
lookup), level-1 portals, webhook endpoints, operator accounts, and bulk onboarding.

Authenticated with a key of the intermediary (``payhub admin intermediary key``), as the rest of
the API (``Authorization: Bearer`` or ``X-Api-Key``); a key of Ente applications gets 401. The
key sees only its intermediary's stations and the Enti they serve: anything else is 404.
Every write is hub.admin's, audited as ``api_key:<prefix>`` with before and after.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from pyramid.response import Response
from pyramid.view import view_config

from hub.admin import describe, onboarding
from hub.admin import inputs as i
from hub.admin import service as svc
from hub.errors import Conflict, DomainError, NotFound
from web.api import admin_activation, inputs
from web.api.auth import CHALLENGE, _presented
from web.api.openapi_parts import PROBLEM
from web.api.problems import Problem

EC = r"{fiscal_code:[0-9]{11}}"
STATION = r"{station_code:[0-9]{11}_[0-9]{2}}"
CODE = r"{code:[A-Za-z0-9._-]{1,35}}"
PORTAL_KEY = r"(?:l1_[0-9a-f]{16}|payer:[A-Za-z0-9._-]{1,34})"  # payhub's, or a PayER PortaleID
ROUTES = {
    "admin.intermediary": ("/admin/intermediary", ("GET", "PATCH")),
    "admin.stations": ("/admin/stations", ("GET", "POST")),
    "admin.station": (f"/admin/stations/{STATION}", ("GET", "PATCH")),
    "admin.enti": ("/admin/enti", ("GET", "POST")),
    "admin.ente": (f"/admin/enti/{EC}", ("GET", "PATCH")),
    "admin.logo": (f"/admin/enti/{EC}/logo", ("PUT", "DELETE")),
    "admin.ibans": (f"/admin/enti/{EC}/ibans", ("GET", "POST")),
    "admin.services": (f"/admin/enti/{EC}/services", ("GET", "POST")),
    "admin.service": (f"/admin/enti/{EC}/services/{CODE}", ("GET", "PATCH")),
    "admin.lookup": (f"/admin/enti/{EC}/services/{CODE}/lookup", ("PUT",)),
    "admin.preview": ("/admin/form-preview", ("POST",)),
    "admin.webhooks": (f"/admin/enti/{EC}/webhooks", ("GET", "POST")),
    "admin.webhook": (f"/admin/enti/{EC}/webhooks/{{webhook_id:[0-9a-f-]{{36}}}}", ("DELETE",)),
    "admin.portals": ("/admin/portals", ("GET", "POST")),
    "admin.portal": (f"/admin/portals/{{key_id:{PORTAL_KEY}}}", ("GET", "PATCH")),
    "admin.portal_rotate": (f"/admin/portals/{{key_id:{PORTAL_KEY}}}/rotate", ("POST",)),
    "admin.operators": ("/admin/operators", ("GET", "POST")),
    "admin.operator": (
        "/admin/operators/{username:[A-Za-z0-9][A-Za-z0-9._@-]{1,63}}",
        ("GET", "PATCH"),
    ),
    "admin.onboarding": ("/admin/onboarding", ("POST",)),
    "admin.history": ("/admin/history", ("GET",)),
}
LOGO_TYPES = ("image/png", "image/jpeg")
MAX_ONBOARDING_BYTES = 20 * 1024 * 1024


def includeme(config: Any) -> None:
    """Included by web.api (same prefix, problems and 405s); its scan finds the views."""
    from web.api import add_routes  # with the package's own 405 view

    add_routes(config, ROUTES)
    config.include(admin_activation)  # the intermediary's steps of activation requests


def actor(request: Any) -> svc.Actor:
    secret = _presented(request)
    if not secret:
        raise Problem(
            401,
            "unauthenticated",
            "an administration key is required (Authorization: Bearer <key> or X-Api-Key)",
            headers=CHALLENGE,
        )
    found = svc.admin_actor(request.db, secret, request_id=getattr(request, "request_id", None))
    if found is None:
        raise Problem(
            401,
            "invalid_api_key",
            "the key is unknown, revoked, or not an intermediary's administration key",
            headers=CHALLENGE,
        )
    return found[0]


def _out(data: Any, status: int = 200) -> Response:
    return Response(json_body=data, status=status, content_type="application/json", charset="utf-8")


def _body(request: Any, model: type[BaseModel]) -> Any:
    return inputs.body(request, model)


def handle(work: Callable[[Any, svc.Actor], Any], status: int = 200) -> Callable[[Any], Response]:
    """A view: authenticate, run ``work(request, actor)``, map the domain's errors to
    problem documents (422 naming the field, 404, 409, 403)."""

    def view(request: Any) -> Response:
        who = actor(request)
        try:
            with request.db.begin_nested():
                result = work(request, who)
        except i.InvalidInput as exc:
            field = exc.field or "body"
            raise Problem(
                422, "validation_failed", str(exc), field=field, errors=exc.errors
            ) from None
        except NotFound as exc:
            raise Problem(404, "not_found", str(exc)) from None
        except svc.Forbidden as exc:
            raise Problem(403, "forbidden", str(exc)) from None
        except Conflict as exc:
            raise Problem(409, exc.code, str(exc)) from None
        except DomainError as exc:
            raise Problem(422, exc.code, str(exc)) from None
        if isinstance(result, Response):
            return result
        return _out(result, status)

    return view


def _route(name: str, method: str, status: int = 200) -> Callable:
    def register(work: Callable[[Any, svc.Actor], Any]) -> Callable:
        view_config(route_name=name, request_method=method)(handle(work, status))
        return work

    return register


def _items(rows: list[Any], render: Callable[[Any], dict]) -> dict[str, Any]:
    return {"items": [render(r) for r in rows]}


# --- the intermediary and its stations -------------------------------------------------------


@view_config(route_name="admin.intermediary", request_method="GET")
def intermediary(request: Any) -> Response:
    return handle(lambda r, a: describe.intermediary(svc.list_intermediaries(r.db, a)[0]))(request)


@view_config(route_name="admin.intermediary", request_method="PATCH")
def intermediary_update(request: Any) -> Response:
    def work(r: Any, a: svc.Actor) -> Any:
        patch = _body(r, i.IntermediaryPatch)
        code = svc.list_intermediaries(r.db, a)[0].broker_code
        return describe.intermediary(svc.update_intermediary(r.db, a, code, patch))

    return handle(work)(request)


@view_config(route_name="admin.stations", request_method="GET")
def stations(request: Any) -> Response:
    return handle(lambda r, a: _items(svc.list_stations(r.db, a), describe.station))(request)


@view_config(route_name="admin.stations", request_method="POST")
def station_create(request: Any) -> Response:
    def work(r: Any, a: svc.Actor) -> Any:
        data = _body(r, i.StationInput)
        return describe.station(svc.create_station(r.db, a, data))

    return handle(work, 201)(request)


@view_config(route_name="admin.station", request_method="GET")
def station(request: Any) -> Response:
    code = request.matchdict["station_code"]
    return handle(lambda r, a: describe.station(svc.get_station(r.db, a, code)))(request)


@view_config(route_name="admin.station", request_method="PATCH")
def station_update(request: Any) -> Response:
    code = request.matchdict["station_code"]

    def work(r: Any, a: svc.Actor) -> Any:
        return describe.station(svc.update_station(r.db, a, code, _body(r, i.StationPatch)))

    return handle(work)(request)


# --- Enti ------------------------------------------------------------------------------------


@view_config(route_name="admin.enti", request_method="GET")
def enti(request: Any) -> Response:
    return handle(lambda r, a: _items(svc.list_enti(r.db, a), describe.ente))(request)


@view_config(route_name="admin.enti", request_method="POST")
def ente_create(request: Any) -> Response:
    def work(r: Any, a: svc.Actor) -> Any:
        return describe.ente(svc.create_ente(r.db, a, _body(r, i.EnteInput)), services=True)

    return handle(work, 201)(request)


@view_config(route_name="admin.ente", request_method="GET")
def ente(request: Any) -> Response:
    code = request.matchdict["fiscal_code"]
    return handle(lambda r, a: describe.ente(svc.get_ente(r.db, a, code), services=True))(request)


@view_config(route_name="admin.ente", request_method="PATCH")
def ente_update(request: Any) -> Response:
    code = request.matchdict["fiscal_code"]

    def work(r: Any, a: svc.Actor) -> Any:
        return describe.ente(svc.update_ente(r.db, a, code, _body(r, i.EntePatch)), services=True)

    return handle(work)(request)


@view_config(route_name="admin.logo", request_method="PUT")
def logo_put(request: Any) -> Response:
    code = request.matchdict["fiscal_code"]

    def work(r: Any, a: svc.Actor) -> Any:
        if r.content_type not in LOGO_TYPES:
            raise Problem(
                415, "unsupported_media_type", "send the logo as image/png or image/jpeg",
                field="Content-Type",
            )  # fmt: skip
        svc.set_logo(r.db, a, code, r.body)
        return Response(status=204)

    return handle(work)(request)


@view_config(route_name="admin.logo", request_method="DELETE")
def logo_delete(request: Any) -> Response:
    code = request.matchdict["fiscal_code"]

    def work(r: Any, a: svc.Actor) -> Any:
        svc.set_logo(r.db, a, code, None)
        return Response(status=204)

    return handle(work)(request)


@view_config(route_name="admin.ibans", request_method="GET")
def ibans(request: Any) -> Response:
    code = request.matchdict["fiscal_code"]
    return handle(lambda r, a: _items(svc.list_ibans(r.db, a, code), describe.iban))(request)


@view_config(route_name="admin.ibans", request_method="POST")
def iban_add(request: Any) -> Response:
    code = request.matchdict["fiscal_code"]

    def work(r: Any, a: svc.Actor) -> Any:
        return describe.iban(svc.add_iban(r.db, a, code, _body(r, i.IbanInput)))

    return handle(work, 201)(request)


# --- services --------------------------------------------------------------------------------


@view_config(route_name="admin.services", request_method="GET")
def services(request: Any) -> Response:
    code = request.matchdict["fiscal_code"]
    return handle(lambda r, a: _items(svc.list_services(r.db, a, code), describe.service))(request)


@view_config(route_name="admin.services", request_method="POST")
def service_create(request: Any) -> Response:
    code = request.matchdict["fiscal_code"]

    def work(r: Any, a: svc.Actor) -> Any:
        return describe.service(svc.create_service(r.db, a, code, _body(r, i.ServiceInput)))

    return handle(work, 201)(request)


@view_config(route_name="admin.service", request_method="GET")
def service(request: Any) -> Response:
    ec, code = request.matchdict["fiscal_code"], request.matchdict["code"]
    return handle(lambda r, a: describe.service(svc.get_service(r.db, a, ec, code)))(request)


@view_config(route_name="admin.service", request_method="PATCH")
def service_update(request: Any) -> Response:
    ec, code = request.matchdict["fiscal_code"], request.matchdict["code"]

    def work(r: Any, a: svc.Actor) -> Any:
        patch = _body(r, i.ServicePatch)
        return describe.service(svc.update_service(r.db, a, ec, code, patch))

    return handle(work)(request)


@view_config(route_name="admin.lookup", request_method="PUT")
def service_lookup(request: Any) -> Response:
    ec, code = request.matchdict["fiscal_code"], request.matchdict["code"]

    def work(r: Any, a: svc.Actor) -> Any:
        registered = svc.set_lookup(r.db, a, ec, code, _body(r, i.LookupInput))
        return {"keyId": registered.endpoint.key_id, "secret": registered.secret}

    return handle(work)(request)


@view_config(route_name="admin.preview", request_method="POST")
def form_preview(request: Any) -> Response:
    lang = "en" if request.GET.get("lang") == "en" else "it"
    return handle(lambda r, a: svc.preview_form(_body(r, i.FormDefinition), lang))(request)


# --- webhooks and portals --------------------------------------------------------------------


@view_config(route_name="admin.webhooks", request_method="GET")
def webhooks(request: Any) -> Response:
    code = request.matchdict["fiscal_code"]
    return handle(lambda r, a: _items(svc.list_webhooks(r.db, a, code), describe.webhook))(request)


@view_config(route_name="admin.webhooks", request_method="POST")
def webhook_create(request: Any) -> Response:
    code = request.matchdict["fiscal_code"]

    def work(r: Any, a: svc.Actor) -> Any:
        registered = svc.create_webhook(r.db, a, code, _body(r, i.WebhookEndpointInput))
        return {**describe.webhook(registered.endpoint), "secret": registered.secret}

    return handle(work, 201)(request)


@view_config(route_name="admin.webhook", request_method="DELETE")
def webhook_delete(request: Any) -> Response:
    code, public_id = request.matchdict["fiscal_code"], request.matchdict["webhook_id"]

    def work(r: Any, a: svc.Actor) -> Any:
        svc.delete_webhook(r.db, a, code, public_id)
        return Response(status=204)

    return handle(work)(request)


@view_config(route_name="admin.portals", request_method="GET")
def portals(request: Any) -> Response:
    return handle(lambda r, a: _items(svc.list_portals(r.db, a), describe.portal))(request)


@view_config(route_name="admin.portals", request_method="POST")
def portal_create(request: Any) -> Response:
    def work(r: Any, a: svc.Actor) -> Any:
        registered = svc.create_portal(r.db, a, _body(r, i.PortalInput))
        return {
            **describe.portal(registered.portal),
            "secret": registered.secret,
            "notifySecret": registered.notify_secret,
        }

    return handle(work, 201)(request)


@view_config(route_name="admin.portal", request_method="GET")
def portal(request: Any) -> Response:
    key_id = request.matchdict["key_id"]
    return handle(lambda r, a: describe.portal(svc.get_portal(r.db, a, key_id)))(request)


@view_config(route_name="admin.portal", request_method="PATCH")
def portal_update(request: Any) -> Response:
    key_id = request.matchdict["key_id"]

    def work(r: Any, a: svc.Actor) -> Any:
        changed = svc.update_portal(r.db, a, key_id, _body(r, i.PortalPatch))
        return {**describe.portal(changed.portal), "notifySecret": changed.notify_secret}

    return handle(work)(request)


@view_config(route_name="admin.portal_rotate", request_method="POST")
def portal_rotate(request: Any) -> Response:
    key_id = request.matchdict["key_id"]
    return handle(
        lambda r, a: {"keyId": key_id, "secret": svc.rotate_portal_secret(r.db, a, key_id)}
    )(request)


# --- operators -------------------------------------------------------------------------------


@view_config(route_name="admin.operators", request_method="GET")
def operators(request: Any) -> Response:
    return handle(lambda r, a: _items(svc.list_operators(r.db, a), describe.operator))(request)


@view_config(route_name="admin.operators", request_method="POST")
def operator_create(request: Any) -> Response:
    def work(r: Any, a: svc.Actor) -> Any:
        return describe.operator(svc.create_operator(r.db, a, _body(r, i.OperatorInput)))

    return handle(work, 201)(request)


@view_config(route_name="admin.operator", request_method="GET")
def operator(request: Any) -> Response:
    name = request.matchdict["username"]
    return handle(lambda r, a: describe.operator(svc.get_operator(r.db, a, name)))(request)


@view_config(route_name="admin.operator", request_method="PATCH")
def operator_update(request: Any) -> Response:
    name = request.matchdict["username"]

    def work(r: Any, a: svc.Actor) -> Any:
        return describe.operator(svc.update_operator(r.db, a, name, _body(r, i.OperatorPatch)))

    return handle(work)(request)


# --- the history of changes ------------------------------------------------------------------


@view_config(route_name="admin.history", request_method="GET")
def history(request: Any) -> Response:
    """Who changed what and when, newest first (``?ente=``, ``?target=``, ``?limit=`` 1-500)."""

    def work(r: Any, a: svc.Actor) -> Any:
        ente = r.GET.get("ente")
        if ente is not None and not (len(ente) == 11 and ente.isdigit()):
            raise Problem(422, "validation_failed", "ente: 11 digits", field="ente")
        limit = r.GET.get("limit", "100")
        if not limit.isdigit() or not 1 <= int(limit) <= svc.HISTORY_MAX:
            raise Problem(422, "validation_failed", f"limit: 1 to {svc.HISTORY_MAX}", field="limit")
        target = r.GET.get("target") or None
        if target is not None and len(target) > 100:
            raise Problem(
                422, "validation_failed", "target: at most 100 characters", field="target"
            )
        rows = svc.history(r.db, a, fiscal_code=ente, target=target, limit=int(limit))
        return _items(rows, describe.change)

    return handle(work)(request)


# --- bulk onboarding -------------------------------------------------------------------------


@view_config(route_name="admin.onboarding", request_method="POST")
def onboard(request: Any) -> Response:
    """A JSON array of Enti (application/json) or a CSV (text/csv); ``?dryRun=false`` loads,
    anything else checks only. 200 with the per-row report either way."""

    def work(r: Any, a: svc.Actor) -> Any:
        fmt = {"application/json": "json", "text/csv": "csv"}.get(r.content_type)
        if fmt is None:
            raise Problem(
                415, "unsupported_media_type", "send application/json or text/csv",
                field="Content-Type",
            )  # fmt: skip
        if len(r.body) > MAX_ONBOARDING_BYTES:
            raise Problem(422, "too_large", "at most 20 MiB per file", field="body")
        dry_run = r.GET.get("dryRun", "true") != "false"
        try:
            entries = onboarding.read_file(r.body, fmt)
        except (onboarding.UnreadableFile, UnicodeDecodeError) as exc:
            raise Problem(422, "unreadable_file", str(exc), field="body") from None
        return onboarding.onboard(r.db, a, entries, dry_run=dry_run).as_dict()

    return handle(work)(request)


# --- the OpenAPI document's part (web/api/openapi.py adds it) --------------------------------

INPUT_MODELS = (
    i.IntermediaryPatch,
    i.StationInput,
    i.StationPatch,
    i.EnteInput,
    i.EntePatch,
    i.IbanInput,
    i.ServiceInput,
    i.ServicePatch,
    i.LookupInput,
    i.FormDefinition,
    i.WebhookEndpointInput,
    i.PortalInput,
    i.PortalPatch,
    i.OperatorInput,
    i.OperatorPatch,
    admin_activation.AdminActivationStepInput,
)
_OBJECT = {"type": "object"}
_LIST = {
    "type": "object",
    "properties": {"items": {"type": "array", "items": _OBJECT}},
    "required": ["items"],
}
_ERRORS = {
    400: "Malformed JSON or query string",
    401: "Missing, unknown or revoked key, or not an intermediary's administration key",
    403: "Not allowed to an intermediary's key (e.g. a support account)",
    404: "Not one of this intermediary's objects, or no such object",
    405: "Method not allowed",
    409: "Exists already, or conflicts with another object",
    415: "Wrong content type",
    422: "Invalid content; `field` names what failed",
}


def _param(name: str, pattern: str, example: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": pattern},
        "example": example,
    }


_P = {
    "fiscal_code": _param("fiscalCode", r"^[0-9]{11}$", "77777777777"),
    "station_code": _param("stationCode", r"^[0-9]{11}_[0-9]{2}$", "77777777777_01"),
    "code": _param("code", r"^[A-Za-z0-9._-]{1,35}$", "TARI"),
    "webhook_id": _param("webhookId", r"^[0-9a-f-]{36}$", "5b0e3c1e-8a51-4c43-9d2b-0d7a8f1f7c11"),
    "key_id": _param("keyId", f"^{PORTAL_KEY}$", "l1_0123456789abcdef"),
    "username": _param("username", r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,63}$", "anna"),
}
# (route, method): (operationId, summary, input model or media types, answer, status, errors)
_OPERATIONS: dict[tuple[str, str], tuple[str, str, Any, Any, int]] = {
    ("admin.intermediary", "GET"): (
        "adminGetIntermediary",
        "The key's intermediary",
        None,
        _OBJECT,
        200,
    ),
    ("admin.intermediary", "PATCH"): (
        "adminUpdateIntermediary",
        "Rename the key's intermediary",
        i.IntermediaryPatch,
        _OBJECT,
        200,
    ),
    ("admin.stations", "GET"): ("adminListStations", "Its stations", None, _LIST, 200),
    ("admin.stations", "POST"): (
        "adminCreateStation",
        "Add a station",
        i.StationInput,
        _OBJECT,
        201,
    ),
    ("admin.station", "GET"): ("adminGetStation", "A station and its Enti", None, _OBJECT, 200),
    ("admin.station", "PATCH"): (
        "adminUpdateStation",
        "Change version or credentials",
        i.StationPatch,
        _OBJECT,
        200,
    ),
    ("admin.enti", "GET"): ("adminListEnti", "The Enti its stations serve", None, _LIST, 200),
    ("admin.enti", "POST"): (
        "adminCreateEnte",
        "Onboard an Ente (with services)",
        i.EnteInput,
        _OBJECT,
        201,
    ),
    ("admin.ente", "GET"): ("adminGetEnte", "An Ente with its services", None, _OBJECT, 200),
    ("admin.ente", "PATCH"): ("adminUpdateEnte", "Change an Ente", i.EntePatch, _OBJECT, 200),
    ("admin.logo", "PUT"): (
        "adminSetLogo",
        "The logo printed on notices",
        ("image/png", "image/jpeg"),
        None,
        204,
    ),
    ("admin.logo", "DELETE"): ("adminClearLogo", "Remove the logo", None, None, 204),
    ("admin.ibans", "GET"): (
        "adminListIbans",
        "The Ente's accounts with validity",
        None,
        _LIST,
        200,
    ),
    ("admin.ibans", "POST"): ("adminAddIban", "Register an account", i.IbanInput, _OBJECT, 201),
    ("admin.services", "GET"): (
        "adminListServices",
        "The Ente's payment services",
        None,
        _LIST,
        200,
    ),
    ("admin.services", "POST"): (
        "adminCreateService",
        "Add a payment service",
        i.ServiceInput,
        _OBJECT,
        201,
    ),
    ("admin.service", "GET"): ("adminGetService", "A payment service", None, _OBJECT, 200),
    ("admin.service", "PATCH"): (
        "adminUpdateService",
        "Change a payment service",
        i.ServicePatch,
        _OBJECT,
        200,
    ),
    ("admin.lookup", "PUT"): (
        "adminSetLookup",
        "Back-office lookup (secret shown once)",
        i.LookupInput,
        _OBJECT,
        200,
    ),
    ("admin.preview", "POST"): (
        "adminPreviewForm",
        "What a form asks the citizen",
        i.FormDefinition,
        _OBJECT,
        200,
    ),
    ("admin.webhooks", "GET"): (
        "adminListWebhooks",
        "The Ente's webhook endpoints",
        None,
        _LIST,
        200,
    ),
    ("admin.webhooks", "POST"): (
        "adminCreateWebhook",
        "Add an endpoint (secret shown once)",
        i.WebhookEndpointInput,
        _OBJECT,
        201,
    ),
    ("admin.webhook", "DELETE"): ("adminDeleteWebhook", "Stop an endpoint", None, None, 204),
    ("admin.portals", "GET"): ("adminListPortals", "Level-1 portals of its Enti", None, _LIST, 200),
    ("admin.portals", "POST"): (
        "adminCreatePortal",
        "Register a portal (secret shown once)",
        i.PortalInput,
        _OBJECT,
        201,
    ),
    ("admin.portal", "GET"): ("adminGetPortal", "A level-1 portal", None, _OBJECT, 200),
    ("admin.portal", "PATCH"): (
        "adminUpdatePortal",
        "Change a portal's name, Enti or URLs, or switch it off or on",
        i.PortalPatch,
        _OBJECT,
        200,
    ),
    ("admin.portal_rotate", "POST"): (
        "adminRotatePortal",
        "A new portal secret",
        None,
        _OBJECT,
        200,
    ),
    ("admin.operators", "GET"): (
        "adminListOperators",
        "Operator accounts of its Enti",
        None,
        _LIST,
        200,
    ),
    ("admin.operators", "POST"): (
        "adminCreateOperator",
        "Create an operator account",
        i.OperatorInput,
        _OBJECT,
        201,
    ),
    ("admin.operator", "GET"): ("adminGetOperator", "An operator account", None, _OBJECT, 200),
    ("admin.operator", "PATCH"): (
        "adminUpdateOperator",
        "Role, Enti, enabled",
        i.OperatorPatch,
        _OBJECT,
        200,
    ),
    ("admin.history", "GET"): (
        "adminHistory",
        "Who changed what and when, before and after",
        None,
        _LIST,
        200,
    ),
    ("admin.onboarding", "POST"): (
        "adminOnboard",
        "Bulk onboarding (dry run unless dryRun=false)",
        ("application/json", "text/csv"),
        _OBJECT,
        200,
    ),
}


def openapi_paths() -> dict[str, Any]:
    """The administration operations for the OpenAPI document (tag ``administration``)."""
    import re

    paths: dict[str, Any] = {}
    for (route, method), (op_id, summary, body, answer, status) in _OPERATIONS.items():
        pattern = ROUTES[route][0]
        names = re.findall(r"{([a-z_]+):", pattern)
        path = re.sub(
            r"{([a-z_]+):(?:[^{}]|{[^{}]*})*}",
            lambda m: "{" + _P[m.group(1)]["name"] + "}",
            pattern,
        )
        params = [_P[n] for n in names]
        if route == "admin.onboarding":
            params = [
                *params,
                {
                    "name": "dryRun",
                    "in": "query",
                    "schema": {"type": "string", "enum": ["true", "false"]},
                },
            ]
        if route == "admin.history":
            params = [
                *params,
                {
                    "name": "ente",
                    "in": "query",
                    "schema": {"type": "string", "pattern": "^[0-9]{11}$"},
                },
                {"name": "target", "in": "query", "schema": {"type": "string", "maxLength": 100}},
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "string", "pattern": "^[0-9]{1,3}$"},
                },
            ]
        if route == "admin.preview":
            params = [
                *params,
                {"name": "lang", "in": "query", "schema": {"type": "string", "enum": ["it", "en"]}},
            ]
        ok = {"description": "Done"}
        if answer is not None:
            ok["content"] = {"application/json": {"schema": answer}}
        errors = (401, 404, 405) if body is None and method == "GET" else tuple(_ERRORS)
        if route == "admin.history":
            errors = (401, 404, 405, 422)
        responses = {str(status): ok} | {
            str(c): {"description": _ERRORS[c], "content": PROBLEM} for c in errors
        }
        operation: dict[str, Any] = {
            "operationId": op_id,
            "summary": summary,
            "tags": ["administration"],
            "parameters": params,
            "responses": responses,
        }
        if isinstance(body, tuple):
            operation["requestBody"] = {
                "required": True,
                "content": {media: {"schema": {"type": "string"}} for media in body},
            }
        elif body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{body.__name__}"}
                    }
                },
            }
        paths.setdefault(path, {})[method.lower()] = operation
    return paths | admin_activation.openapi_paths()
