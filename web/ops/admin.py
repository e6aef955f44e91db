"""The administration pages (/ops/admin/), for accounts with the "intermediary" role: lists and
forms for intermediaries (renamed on the overview), stations, Enti (with accounts, services and
webhook endpoints), payment services (with a preview of the citizen's form), level-1 portals
(their Enti and URLs changed, switched off and on, their secret rotated), operator accounts,
and bulk onboarding with its dry run. Every write goes through hub.admin, audited as
``ops:<username>``.

Forms are generic: ``FORMS`` says, for each input model of hub.admin.inputs, which fields the
page shows, with their labels (translated) and widgets; the model checks what is posted and an
error is shown beside the field it names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.alias_generators import to_camel, to_snake
from pyramid.httpexceptions import HTTPNotFound, HTTPSeeOther
from pyramid.view import view_config

from hub.admin import describe, onboarding
from hub.admin import inputs as i
from hub.admin import service as svc
from hub.errors import DomainError, NotFound
from web.checkout.i18n import _, localized, validation_message
from web.ops.common import T, flash
from web.ops.security import require_intermediary

ROUTES = (
    ("ops.admin", "/admin/"),
    ("ops.admin_new", "/admin/new/{kind:intermediary|station|ente|operator|portal}"),
    ("ops.admin_intermediary", "/admin/intermediaries/{broker_code:[0-9]{11}}"),
    ("ops.admin_station", "/admin/stations/{code:[0-9]{11}_[0-9]{2}}"),
    ("ops.admin_ente", "/admin/enti/{ec:[0-9]{11}}"),
    ("ops.admin_ente_add", "/admin/enti/{ec:[0-9]{11}}/{kind:iban|service|webhook}"),
    ("ops.admin_logo", "/admin/enti/{ec:[0-9]{11}}/logo"),
    ("ops.admin_service", "/admin/enti/{ec:[0-9]{11}}/services/{code:[A-Za-z0-9._-]{1,35}}"),
    ("ops.admin_operator", "/admin/operators/{username:[A-Za-z0-9][A-Za-z0-9._@-]{1,63}}"),
    ("ops.admin_import", "/admin/import"),
    ("ops.admin_portal", "/admin/portals/{key_id:(?:l1_[0-9a-f]{16}|payer:[A-Za-z0-9._-]{1,34})}"),
    (
        "ops.admin_webhook_delete",
        "/admin/enti/{ec:[0-9]{11}}/webhooks/{webhook_id:[0-9a-f-]{36}}/delete",
    ),
    ("ops.admin_lookup", "/admin/enti/{ec:[0-9]{11}}/services/{code:[A-Za-z0-9._-]{1,35}}/lookup"),
)
HISTORY_SHOWN = 20  # changes on the overview and on an Ente's page


@dataclass(frozen=True)
class Field:
    name: str
    label: Any  # a TranslationString
    widget: str = "text"  # text, email, password, number, checkbox, select, lines, json, date
    choices: tuple[str, ...] = ()
    required: bool = False
    help: Any = None


F = Field
ENTE_FIELDS = [
    F("name", _("Name"), required=True),
    F("office", _("Office")),
    F("segregation_code", _("Segregation code"), required=True, help=_("Two digits")),
    F("cbill_code", _("CBILL code")),
    F("stations", _("Stations"), "lines", required=True, help=_("One station code per line")),
    F("iban", _("IBAN")),
    F("postal_iban", _("Postal IBAN")),
    F("referente_name", _("Referente: name")),
    F("referente_surname", _("Referente: surname")),
    F("referente_email", _("Referente: e-mail"), "email"),
    F("referente_phone", _("Referente: phone")),
    F("technical_contact_name", _("Technical contact: name")),
    F("technical_contact_email", _("Technical contact: e-mail"), "email"),
    F("technical_contact_phone", _("Technical contact: phone")),
    F("support_contact_name", _("Support contact: name")),
    F("support_contact_email", _("Support contact: e-mail"), "email"),
    F("support_contact_phone", _("Support contact: phone")),
]
SERVICE_FIELDS = [
    F("label", _("Label"), required=True),
    F("taxonomy", _("Taxonomy"), required=True, help=_("For example 9/0101101IM/")),
    F("iban", _("IBAN")),
    F("kind", _("Kind"), "select", ("precomputed", "spontaneous")),
    F("active", _("Active"), "checkbox"),
    F("form", _("Form definition (JSON)"), "json"),
]
FORMS: dict[str, tuple[type[BaseModel], list[Field]]] = {
    "intermediary": (
        i.IntermediaryInput,
        [F("broker_code", _("Broker code"), required=True), F("name", _("Name"), required=True)],
    ),
    "intermediary_patch": (i.IntermediaryPatch, [F("name", _("Name"), required=True)]),
    "station": (
        i.StationInput,
        [
            F(
                "station_code",
                _("Station code"),
                required=True,
                help=_("For example 77777777777_01"),
            ),
            F("broker_code", _("Broker code"), required=True),
            F("primitive_version", _("Primitives version"), "select", ("2", "1")),
            F("password", _("pagoPA password"), "password"),
            F("subscription_key", _("pagoPA subscription key"), "password"),
            F(
                "test",
                _("Station of pagoPA's test environment"),
                "checkbox",
                help=_("Its payments are tests: Enti being activated are served by it first"),
            ),
        ],
    ),
    "station_patch": (
        i.StationPatch,
        [
            F("primitive_version", _("Primitives version"), "select", ("2", "1")),
            F("password", _("pagoPA password"), "password", help=_("Leave empty to keep it")),
            F(
                "subscription_key",
                _("pagoPA subscription key"),
                "password",
                help=_("Leave empty to keep it"),
            ),
        ],
    ),
    "ente": (i.EnteInput, [F("fiscal_code", _("Fiscal code"), required=True), *ENTE_FIELDS]),
    "ente_patch": (i.EntePatch, ENTE_FIELDS),
    "iban": (
        i.IbanInput,
        [
            F("iban", _("IBAN"), required=True),
            F("postal", _("Postal account"), "checkbox"),
            F("valid_from", _("Valid from"), "date"),
            F("valid_until", _("Valid until"), "date"),
            F("description", _("Description")),
        ],
    ),
    "service": (i.ServiceInput, [F("code", _("Code"), required=True), *SERVICE_FIELDS]),
    "service_patch": (i.ServicePatch, SERVICE_FIELDS),
    "webhook": (
        i.WebhookEndpointInput,
        [F("url", _("URL"), required=True), F("description", _("Description"))],
    ),
    "operator": (
        i.OperatorInput,
        [
            F("username", _("Username"), required=True),
            F(
                "password",
                _("Password"),
                "password",
                required=True,
                help=_("At least 10 characters"),
            ),
            F("role", _("Role"), "select", ("operator", "support", "intermediary")),
            F("enti", _("Bodies"), "lines", help=_("One fiscal code per line")),
        ],
    ),
    "operator_patch": (
        i.OperatorPatch,
        [
            F("role", _("Role"), "select", ("operator", "support", "intermediary")),
            F("enti", _("Bodies"), "lines", help=_("One fiscal code per line")),
            F("enabled", _("Enabled"), "checkbox"),
        ],
    ),
    "portal": (
        i.PortalInput,
        [
            F("name", _("Name"), required=True),
            F("enti", _("Bodies"), "lines", required=True, help=_("One fiscal code per line")),
            F("return_url_prefix", _("Return URL prefix"), required=True),
            F("notify_url", _("Notification URL")),
            F("legacy_buffer", _("PayER Buffer protocol"), "checkbox"),
            F("legacy_code", _("PayER PortaleID"), help=_("A PayER portal only: its own keys")),
            F("legacy_iv", _("PayER IV"), "password"),
            F("legacy_key", _("PayER Key"), "password"),
        ],
    ),
    "portal_patch": (
        i.PortalPatch,
        [
            F("name", _("Name"), required=True),
            F("enti", _("Bodies"), "lines", required=True, help=_("One fiscal code per line")),
            F("return_url_prefix", _("Return URL prefix"), required=True),
            F("notify_url", _("Notification URL"), help=_("Leave empty for no notifications")),
        ],
    ),
    "lookup": (
        i.LookupInput,
        [
            F("url", _("URL"), required=True),
            F("keys", _("Key fields (JSON)"), "json", required=True),
            F("timeout_seconds", _("Timeout (seconds)")),
        ],
    ),
}
TITLES = {
    "intermediary": _("New intermediary"),
    "station": _("New station"),
    "ente": _("New body"),
    "operator": _("New account"),
    "portal": _("New level-1 portal"),
}


def includeme(config: Any) -> None:
    for name, pattern in ROUTES:
        config.add_route(name, pattern)
    config.scan("web.ops.admin")


def actor(request: Any) -> svc.Actor:
    account = require_intermediary(request)
    return svc.Actor(f"ops:{account.username}", request_id=getattr(request, "request_id", None))


# --- reading and showing forms ---------------------------------------------------------------


def read_form(request: Any, kind: str, *, patch: bool = False) -> tuple[dict[str, Any], dict]:
    """The posted values of form ``kind`` as the model's input, and what to show back."""
    _model, fields = FORMS[kind]
    data: dict[str, Any] = {}
    shown: dict[str, Any] = {}
    post = request.POST
    for field in fields:
        raw = post.get(field.name, "")
        if field.widget == "checkbox":
            data[field.name] = shown[field.name] = field.name in post
            continue
        shown[field.name] = "" if field.widget == "password" else raw
        raw = raw.strip()
        if not raw:
            continue  # empty: unset (a patch keeps the value, a create leaves it out)
        if field.widget == "lines":
            data[field.name] = raw.split()
        elif field.widget == "json":
            try:
                data[field.name] = json.loads(raw)
            except ValueError:
                data[field.name] = raw  # the model says it is not an object
        elif field.name == "primitive_version":
            data[field.name] = int(raw) if raw.isdigit() else raw
        else:
            data[field.name] = raw
    return data, shown


def current(kind: str, found: dict[str, Any]) -> dict[str, Any]:
    """What a patch form shows for an object (describe's dict, by field name)."""
    _model, fields = FORMS[kind]
    flat = {
        "stations": "\n".join(found.get("stations", [])),
        "enti": "\n".join(found.get("enti", [])),
        "form": json.dumps(found["form"], indent=2, ensure_ascii=False)
        if found.get("form")
        else "",
        "primitive_version": str(found.get("primitiveVersion", "")),
    }
    for prefix, key in (
        ("referente_", "referente"),
        ("technical_contact_", "technicalContact"),
        ("support_contact_", "supportContact"),
    ):
        for part, value in (found.get(key) or {}).items():
            flat[prefix + part] = value or ""
    out = {}
    for field in fields:
        camel = to_camel(field.name)
        if field.name in flat:
            out[field.name] = flat[field.name]
        elif field.widget == "password":
            out[field.name] = ""
        else:
            value = found.get(camel, found.get(field.name))
            out[field.name] = (
                value if field.widget == "checkbox" else ("" if value is None else value)
            )
    return out


def field_errors(request: Any, kind: str, exc: i.InvalidInput) -> dict[str, Any]:
    """The form's errors (field -> message): a model's checks as sentences in the page's
    language naming the field by its label (issue 16); the others as the hub says them."""
    labels = {f.name: f.label for f in FORMS[kind][1]}
    errors: dict[str, Any] = {}
    for error in exc.errors or [{"field": exc.field or "", "message": str(exc)}]:
        path = str(error.get("field") or "")
        name = to_snake(path.split(".")[0].split("[")[0])
        message = error["message"]
        if error.get("type"):
            pydantic_error = {
                "type": error["type"],
                "msg": error["message"],
                "ctx": exc.ctx.get(path),
            }
            message = validation_message(request, labels.get(name, path), pydantic_error)
        errors.setdefault(name or "_form", message)
    return errors


def required(data: dict[str, Any], kind: str) -> dict[str, Any]:
    """``data``, if no field the form marks required was left empty (where a patch would keep
    the value, these forms mean to change it); else InvalidInput naming each one."""
    missing = [f.name for f in FORMS[kind][1] if f.required and f.name not in data]
    if missing:
        errors = [{"field": n, "message": "Field required", "type": "missing"} for n in missing]
        raise i.InvalidInput(f"{missing[0]}: Field required", field=missing[0], errors=errors)
    return data


def _form(kind: str, values: dict, errors: dict, **extra: Any) -> dict[str, Any]:
    return {"fields": FORMS[kind][1], "values": values, "errors": errors, "kind": kind, **extra}


def _attempt(request: Any, work: Any, kind: str, shown: dict) -> tuple[Any, dict | None]:
    """Run ``work()`` in a savepoint (rolled back on an error); on a domain error, the form's
    errors (field -> message)."""
    try:
        with request.db.begin_nested():
            return work(), None
    except i.InvalidInput as exc:
        return None, field_errors(request, kind, exc)
    except NotFound as exc:
        return None, {"_form": str(exc)}
    except DomainError as exc:
        return None, {"_form": str(exc)}


# --- pages -----------------------------------------------------------------------------------


@view_config(route_name="ops.admin", renderer=T + "admin.jinja2", decorator=localized)
def index(request: Any) -> dict[str, Any]:
    who = actor(request)
    db = request.db
    return {
        "intermediaries": [describe.intermediary(x) for x in svc.list_intermediaries(db, who)],
        "stations": [describe.station(x) for x in svc.list_stations(db, who)],
        "enti": [describe.ente(x) for x in svc.list_enti(db, who)],
        "operators": [describe.operator(x) for x in svc.list_operators(db, who)],
        "portals": [describe.portal(x) for x in svc.list_portals(db, who)],
        "changes": _changes(svc.history(db, who, limit=HISTORY_SHOWN)),
    }


CREATE = {
    "intermediary": lambda db, a, d: svc.create_intermediary(db, a, d),
    "station": lambda db, a, d: svc.create_station(db, a, d),
    "ente": lambda db, a, d: svc.create_ente(db, a, d),
    "operator": lambda db, a, d: svc.create_operator(db, a, d),
    "portal": lambda db, a, d: svc.create_portal(db, a, d),
}


@view_config(
    route_name="ops.admin_new", renderer=T + "admin_form.jinja2", decorator=localized,
    require_csrf=True,
)  # fmt: skip
def new(request: Any) -> Any:
    who = actor(request)
    kind = request.matchdict["kind"]
    title = TITLES[kind]
    if request.method != "POST":
        defaults = {"kind": "precomputed", "role": "operator", "primitive_version": "2"}
        return _form(kind, defaults, {}, title=title)
    data, shown = read_form(request, kind)
    model = FORMS[kind][0]

    def work() -> Any:
        return CREATE[kind](request.db, who, i.parse(model, data))

    created, errors = _attempt(request, work, kind, shown)
    if errors:
        return _form(kind, shown, errors, title=title)
    if kind == "portal" and created.secret is not None:  # the secret, shown once
        return _form(kind, shown, {}, title=title, secret=created.secret, done=True)
    flash(request, _("Saved."))
    target = {
        "ente": lambda: request.route_path("ops.admin_ente", ec=data["fiscal_code"]),
        "station": lambda: request.route_path("ops.admin_station", code=data["station_code"]),
    }.get(kind, lambda: request.route_path("ops.admin"))
    return HTTPSeeOther(location=target())


@view_config(
    route_name="ops.admin_intermediary", renderer=T + "admin_form.jinja2", decorator=localized,
    require_csrf=True,
)  # fmt: skip
def intermediary(request: Any) -> Any:
    """Rename an intermediary (the overview's form posts here; a refused name is shown
    beside its field on this page)."""
    who = actor(request)
    code = request.matchdict["broker_code"]
    try:
        found = describe.intermediary(svc.get_intermediary(request.db, who, code))
    except NotFound:
        raise HTTPNotFound() from None
    extra = {"title": f"{found['name']} ({code})"}
    if request.method != "POST":
        return _form("intermediary_patch", current("intermediary_patch", found), {}, **extra)
    data, shown = read_form(request, "intermediary_patch")

    def work() -> Any:
        patch = i.parse(i.IntermediaryPatch, required(data, "intermediary_patch"))
        return svc.update_intermediary(request.db, who, code, patch)

    _done, errors = _attempt(request, work, "intermediary_patch", shown)
    if errors:
        return _form("intermediary_patch", shown, errors, **extra)
    flash(request, _("Saved."))
    return HTTPSeeOther(location=request.route_path("ops.admin"))


@view_config(
    route_name="ops.admin_station", renderer=T + "admin_form.jinja2", decorator=localized,
    require_csrf=True,
)  # fmt: skip
def station(request: Any) -> Any:
    who = actor(request)
    code = request.matchdict["code"]
    try:
        found = describe.station(svc.get_station(request.db, who, code))
    except NotFound:
        raise HTTPNotFound() from None
    extra = {"title": code, "station": found}
    if request.method != "POST":
        return _form("station_patch", current("station_patch", found), {}, **extra)
    data, shown = read_form(request, "station_patch")

    def work() -> Any:
        return svc.update_station(request.db, who, code, i.parse(i.StationPatch, data))

    _done, errors = _attempt(request, work, "station_patch", shown)
    if errors:
        return _form("station_patch", shown, errors, **extra)
    flash(request, _("Saved."))
    return HTTPSeeOther(location=request.route_path("ops.admin_station", code=code))


@view_config(
    route_name="ops.admin_ente", renderer=T + "admin_ente.jinja2", decorator=localized,
    require_csrf=True,
)  # fmt: skip
def ente(request: Any) -> Any:
    who = actor(request)
    ec = request.matchdict["ec"]
    db = request.db
    try:
        found = describe.ente(svc.get_ente(db, who, ec), services=True)
    except NotFound:
        raise HTTPNotFound() from None
    page = {
        "ente": found,
        "has_logo": svc.get_ente(db, who, ec).logo is not None,
        "ibans": [describe.iban(x) for x in svc.list_ibans(db, who, ec)],
        "webhooks": [describe.webhook(x) for x in svc.list_webhooks(db, who, ec)],
        "changes": _changes(svc.history(db, who, fiscal_code=ec, limit=HISTORY_SHOWN)),
        "forms": {
            "iban": _form("iban", {}, {}),
            "service": _form("service", {"kind": "precomputed", "active": True}, {}),
            "webhook": _form("webhook", {}, {}),
        },
        "title": found["name"],
    }
    if request.method != "POST":
        return {**page, **_form("ente_patch", current("ente_patch", found), {})}
    data, shown = read_form(request, "ente_patch")

    def work() -> Any:
        return svc.update_ente(db, who, ec, i.parse(i.EntePatch, data))

    _done, errors = _attempt(request, work, "ente_patch", shown)
    if errors:
        return {**page, **_form("ente_patch", shown, errors)}
    flash(request, _("Saved."))
    return HTTPSeeOther(location=request.route_path("ops.admin_ente", ec=ec))


ADD = {
    "iban": lambda db, a, ec, d: svc.add_iban(db, a, ec, d),
    "service": lambda db, a, ec, d: svc.create_service(db, a, ec, d),
    "webhook": lambda db, a, ec, d: svc.create_webhook(db, a, ec, d),
}


@view_config(
    route_name="ops.admin_ente_add", renderer=T + "admin_form.jinja2", decorator=localized,
    require_csrf=True, request_method="POST",
)  # fmt: skip
def ente_add(request: Any) -> Any:
    who = actor(request)
    ec, kind = request.matchdict["ec"], request.matchdict["kind"]
    data, shown = read_form(request, kind)
    model = FORMS[kind][0]

    def work() -> Any:
        return ADD[kind](request.db, who, ec, i.parse(model, data))

    done, errors = _attempt(request, work, kind, shown)
    title = {"iban": _("New account"), "service": _("New service"), "webhook": _("New webhook")}
    if errors:
        return _form(kind, shown, errors, title=title[kind], action=request.path, ec=ec)
    if kind == "webhook":
        return _form(kind, shown, {}, title=title[kind], secret=done.secret, done=True, ec=ec)
    flash(request, _("Saved."))
    return HTTPSeeOther(location=request.route_path("ops.admin_ente", ec=ec))


@view_config(
    route_name="ops.admin_logo", request_method="POST", require_csrf=True, decorator=localized
)
def logo(request: Any) -> Any:
    """Set (a PNG or JPEG file) or remove (``clear``) the logo printed on the Ente's notices."""
    who = actor(request)
    ec = request.matchdict["ec"]
    upload = request.POST.get("logo")
    data = None if request.POST.get("clear") else getattr(upload, "file", None)
    if data is None and not request.POST.get("clear"):
        flash(request, _("Choose a PNG or JPEG file."), "error")
        return HTTPSeeOther(location=request.route_path("ops.admin_ente", ec=ec))
    if data is None:
        content = None
    else:
        with data:  # cgi's spool on disk: closed now, not whenever the collector gets to it
            content = data.read(LOGO_MAX + 1)
    try:
        if content is not None and len(content) > LOGO_MAX:
            raise i.InvalidInput("the logo is larger than 1 MiB", field="logo")
        with request.db.begin_nested():
            svc.set_logo(request.db, who, ec, content)
    except NotFound:
        raise HTTPNotFound() from None
    except i.InvalidInput as exc:
        request.session.flash(str(exc), "error")
        return HTTPSeeOther(location=request.route_path("ops.admin_ente", ec=ec))
    flash(request, _("Saved."))
    return HTTPSeeOther(location=request.route_path("ops.admin_ente", ec=ec))


LOGO_MAX = 1024 * 1024


@view_config(
    route_name="ops.admin_service", renderer=T + "admin_service.jinja2", decorator=localized,
    require_csrf=True,
)  # fmt: skip
def service(request: Any) -> Any:
    who = actor(request)
    ec, code = request.matchdict["ec"], request.matchdict["code"]
    db = request.db
    try:
        found = describe.service(svc.get_service(db, who, ec, code))
    except NotFound:
        raise HTTPNotFound() from None
    lang = request.localizer.locale_name
    extra = {"service": found, "ec": ec, "title": f"{code} · {ec}", "lookup": _lookup_form(found)}
    if request.method != "POST":
        preview = svc.preview_form(found["form"], lang) if found["form"] else None
        return {**_form("service_patch", current("service_patch", found), {}), **extra,
                "preview": preview}  # fmt: skip
    data, shown = read_form(request, "service_patch")
    if request.POST.get("action") == "preview":  # show what the form would ask, save nothing
        try:
            preview = svc.preview_form(data.get("form") or {}, lang)
            errors: dict = {}
        except i.InvalidInput as exc:
            preview, errors = None, {"form": str(exc)}
        return {**_form("service_patch", shown, errors), **extra, "preview": preview}

    def work() -> Any:
        return svc.update_service(db, who, ec, code, i.parse(i.ServicePatch, data))

    _done, errors = _attempt(request, work, "service_patch", shown)
    if errors:
        return {**_form("service_patch", shown, errors), **extra, "preview": None}
    flash(request, _("Saved."))
    return HTTPSeeOther(location=request.route_path("ops.admin_service", ec=ec, code=code))


@view_config(
    route_name="ops.admin_operator", renderer=T + "admin_form.jinja2", decorator=localized,
    require_csrf=True,
)  # fmt: skip
def operator(request: Any) -> Any:
    who = actor(request)
    name = request.matchdict["username"]
    try:
        found = describe.operator(svc.get_operator(request.db, who, name))
    except NotFound:
        raise HTTPNotFound() from None
    extra = {"title": name}
    if request.method != "POST":
        return _form("operator_patch", current("operator_patch", found), {}, **extra)
    data, shown = read_form(request, "operator_patch")

    def work() -> Any:
        return svc.update_operator(request.db, who, name, i.parse(i.OperatorPatch, data))

    _done, errors = _attempt(request, work, "operator_patch", shown)
    if errors:
        return _form("operator_patch", shown, errors, **extra)
    flash(request, _("Saved."))
    return HTTPSeeOther(location=request.route_path("ops.admin"))


@view_config(
    route_name="ops.admin_import", renderer=T + "admin_import.jinja2", decorator=localized,
    require_csrf=True,
)  # fmt: skip
def import_enti(request: Any) -> dict[str, Any]:
    who = actor(request)
    if request.method != "POST":
        return {"report": None, "errors": {}}
    upload = request.POST.get("file")
    data = getattr(upload, "file", None)
    if data is None:
        return {"report": None, "errors": {"file": _("Choose a CSV or JSON file.")}}
    with data:  # cgi's spool on disk: closed now, not whenever the collector gets to it
        content = data.read(onboarding_max() + 1)
    if len(content) > onboarding_max():
        return {"report": None, "errors": {"file": _("The file is too large.")}}
    dry_run = request.POST.get("action") != "load"
    try:
        entries = onboarding.read_file(content, name=getattr(upload, "filename", "") or "")
    except (onboarding.UnreadableFile, UnicodeDecodeError) as exc:
        return {"report": None, "errors": {"file": str(exc)}}
    report = onboarding.onboard(request.db, who, entries, dry_run=dry_run)
    return {"report": report.as_dict(), "errors": {}}


def onboarding_max() -> int:
    return 20 * 1024 * 1024


def _changes(rows: list[Any]) -> list[dict[str, Any]]:
    """The audited changes as the history table shows them (``when``: the instant, shown in
    Italian time)."""
    return [{**describe.change(x), "when": x.created_at} for x in rows]


def _lookup_form(
    found: dict[str, Any], errors: dict | None = None, values: dict | None = None
) -> dict:
    """The back-office lookup's form of a precomputed service (None for a spontaneous one)."""
    if found["kind"] != "precomputed":
        return {}
    lookup = found.get("lookup") or {}
    shown = values or {
        "url": lookup.get("url") or "",
        "keys": json.dumps(lookup["keys"], indent=2, ensure_ascii=False)
        if lookup.get("keys")
        else "",
        "timeout_seconds": "",
    }
    return _form("lookup", shown, errors or {})


@view_config(
    route_name="ops.admin_lookup", renderer=T + "admin_form.jinja2", decorator=localized,
    require_csrf=True, request_method="POST",
)  # fmt: skip
def lookup(request: Any) -> Any:
    """Point a precomputed service at its Ente's back office; the signing secret is shown
    once."""
    who = actor(request)
    ec, code = request.matchdict["ec"], request.matchdict["code"]
    try:
        svc.get_service(request.db, who, ec, code)
    except NotFound:
        raise HTTPNotFound() from None
    data, shown = read_form(request, "lookup")

    def work() -> Any:
        return svc.set_lookup(request.db, who, ec, code, i.parse(i.LookupInput, data))

    done, errors = _attempt(request, work, "lookup", shown)
    title = _("Back-office lookup")
    if errors:
        names = {f.name for f in FORMS["lookup"][1]}
        errors = {k if k in names else "_form": v for k, v in errors.items()}
        return _form("lookup", shown, errors, title=title, action=request.path, ec=ec)
    return _form("lookup", shown, {}, title=title, secret=done.secret, done=True, ec=ec)


@view_config(
    route_name="ops.admin_portal", require_csrf=True, decorator=localized,
    renderer=T + "admin_form.jinja2",
)  # fmt: skip
def portal(request: Any) -> Any:
    """A portal's name, Enti and URLs (its form; a first notification URL's secret shown
    once), or, from the overview, the portal switched off or on (``action`` off / on) or its
    secret rotated (``rotate``: the new secret shown once)."""
    who = actor(request)
    key_id = request.matchdict["key_id"]
    action = request.POST.get("action")
    if request.method != "POST" or action is None:
        return portal_form(request, who, key_id)
    if action not in ("off", "on", "rotate"):
        raise HTTPNotFound()
    try:
        with request.db.begin_nested():
            if action == "rotate":
                secret = svc.rotate_portal_secret(request.db, who, key_id)
            else:
                svc.set_portal_active(request.db, who, key_id, action == "on")
    except NotFound:
        raise HTTPNotFound() from None
    except DomainError as exc:
        flash(request, str(exc), "error")
        return HTTPSeeOther(location=request.route_path("ops.admin"))
    if action == "rotate":
        return _form("portal", {}, {}, title=key_id, secret=secret, done=True)
    flash(request, _("Saved."))
    return HTTPSeeOther(location=request.route_path("ops.admin"))


def portal_form(request: Any, who: svc.Actor, key_id: str) -> Any:
    try:
        found = describe.portal(svc.get_portal(request.db, who, key_id))
    except NotFound:
        raise HTTPNotFound() from None
    extra = {"title": f"{found['name']} ({key_id})"}
    if request.method != "POST":
        return _form("portal_patch", current("portal_patch", found), {}, **extra)
    data, shown = read_form(request, "portal_patch")
    if "notify_url" in request.POST:
        data.setdefault("notify_url", None)  # left empty: no notifications

    def work() -> Any:
        patch = i.parse(i.PortalPatch, required(data, "portal_patch"))
        return svc.update_portal(request.db, who, key_id, patch)

    done, errors = _attempt(request, work, "portal_patch", shown)
    if errors:
        return _form("portal_patch", shown, errors, **extra)
    if done.notify_secret is not None:  # a first notification URL: its secret, shown once
        return _form("portal_patch", shown, {}, secret=done.notify_secret, done=True, **extra)
    flash(request, _("Saved."))
    return HTTPSeeOther(location=request.route_path("ops.admin"))


@view_config(
    route_name="ops.admin_webhook_delete", request_method="POST", require_csrf=True,
    decorator=localized,
)  # fmt: skip
def webhook_delete(request: Any) -> Any:
    """Stop one of the Ente's webhook endpoints (it and its deliveries are kept)."""
    who = actor(request)
    ec, public_id = request.matchdict["ec"], request.matchdict["webhook_id"]
    try:
        with request.db.begin_nested():
            svc.delete_webhook(request.db, who, ec, public_id)
    except NotFound:
        raise HTTPNotFound() from None
    flash(request, _("Saved."))
    return HTTPSeeOther(location=request.route_path("ops.admin_ente", ec=ec))
