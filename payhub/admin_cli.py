"""``payhub admin``: the administration from the command line (hub.admin), scriptable.

Every create/update takes one option per field of its input model (``--fiscal-code``,
``--stations`` repeated, ``--active/--no-active``; nested values such as ``--form`` as JSON,
``@file.json`` to read a file), or the whole input with ``--from-json FILE`` ("-" for stdin).
``--json`` (on ``payhub admin``) prints results as JSON. Errors exit with status 1 and one line
naming the field. The CLI acts for the whole platform (audited as ``cli``).
"""

from __future__ import annotations

import json
import sys
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from pydantic import BaseModel

from hub.admin import describe
from hub.admin import inputs as i
from hub.admin import service as svc
from hub.errors import DomainError


def _factory(ctx: click.Context) -> Any:
    from hub.db import engine_from_config, make_session_factory

    return make_session_factory(engine_from_config(ctx.obj["load_settings"]()))


def _emit(ctx: click.Context, data: Any, text: str | Callable[[], str]) -> None:
    if ctx.find_root().obj.get("admin_json"):
        click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    else:
        click.echo(text() if callable(text) else text)


def _run(ctx: click.Context, work: Callable[[Any], Any]) -> Any:
    """Run ``work(session)`` in one transaction; a DomainError is one line, exit 1."""
    factory = _factory(ctx)
    try:
        with factory.begin() as session:
            return work(session)
    except i.InvalidInput as exc:
        message = str(exc)
        if exc.field and not message.startswith(f"{exc.field}:"):  # a check of the service's
            message = f"{exc.field}: {message}"
        raise click.ClickException(message) from None
    except DomainError as exc:
        raise click.ClickException(f"{exc} ({exc.code})") from None


# --- options from input models ---------------------------------------------------------------


def _kind(annotation: Any) -> str:
    """'list', 'bool', 'int', 'json' or 'str' for a field's annotation."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        return _kind(args[0])
    if origin is typing.Annotated:
        return _kind(args[0])
    if origin is list:
        inner = typing.get_args(annotation)[0]
        return "json" if _kind(inner) == "json" else "list"
    if annotation is bool:
        return "bool"
    if origin is typing.Literal and all(isinstance(a, int) for a in args):
        return "int"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "json"
    if origin in (typing.Union, types.UnionType):
        return "json" if any(_kind(a) == "json" for a in args) else "str"
    return "str"


def _json_value(text: str) -> Any:
    if text.startswith("@"):
        text = Path(text[1:]).read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}") from None


def model_options(model: type[BaseModel], *, skip: tuple[str, ...] = ()) -> Callable:
    """Decorate a command with one option per field of ``model`` plus ``--from-json``."""

    def decorate(func: Callable) -> Callable:
        for name, info in reversed(model.model_fields.items()):
            if name in skip:
                continue
            flag = "--" + name.replace("_", "-")
            kind = _kind(info.annotation)
            help_text = info.description or ""
            if kind == "bool":
                func = click.option(f"{flag}/--no-{flag[2:]}", name, default=None, help=help_text)(
                    func
                )
            elif kind == "list":
                func = click.option(flag, name, multiple=True, help=help_text + " (repeat)")(func)
            elif kind == "int":
                func = click.option(flag, name, type=int, default=None, help=help_text)(func)
            elif kind == "json":
                func = click.option(flag, name, default=None, help="JSON, or @file.json")(func)
            else:
                func = click.option(flag, name, default=None, help=help_text)(func)
        func = click.option(
            "--from-json",
            "from_json",
            type=click.File("r"),
            default=None,
            help="The whole input as a JSON object (- for stdin); options override it.",
        )(func)
        return func

    return decorate


def model_input(model: type[BaseModel], values: dict[str, Any]) -> Any:
    data: dict[str, Any] = {}
    source = values.pop("from_json", None)
    if source is not None:
        loaded = json.load(source)
        if not isinstance(loaded, dict):
            raise click.BadParameter("--from-json needs a JSON object")
        data.update(loaded)
    for name, value in values.items():
        if name not in model.model_fields or value is None or value == ():
            continue
        kind = _kind(model.model_fields[name].annotation)
        data[name] = (
            list(value) if kind == "list" else _json_value(value) if kind == "json" else value
        )
    try:
        return i.parse(model, data)
    except i.InvalidInput as exc:
        raise click.ClickException(str(exc)) from None


# --- the group -------------------------------------------------------------------------------


@click.group("admin")
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
@click.pass_context
def admin_group(ctx: click.Context, as_json: bool) -> None:
    """Administration: intermediaries, stations, Enti, services, portals, webhooks,
    operators, bulk onboarding."""
    ctx.find_root().obj["admin_json"] = as_json


def _table(rows: list[list[Any]]) -> str:
    return "\n".join("\t".join("" if c is None else str(c) for c in row) for row in rows)


# intermediaries


@admin_group.group("intermediary")
def intermediary_group() -> None:
    """Intermediaries (idBrokerPA)."""


@intermediary_group.command("create")
@model_options(i.IntermediaryInput)
@click.pass_context
def intermediary_create(ctx: click.Context, **values: Any) -> None:
    data = model_input(i.IntermediaryInput, values)
    out = _run(ctx, lambda s: describe.intermediary(svc.create_intermediary(s, svc.CLI, data)))
    _emit(ctx, out, f"intermediary {out['brokerCode']} created")


@intermediary_group.command("update")
@click.argument("broker_code")
@model_options(i.IntermediaryPatch)
@click.pass_context
def intermediary_update(ctx: click.Context, broker_code: str, **values: Any) -> None:
    patch = model_input(i.IntermediaryPatch, values)
    out = _run(
        ctx,
        lambda s: describe.intermediary(svc.update_intermediary(s, svc.CLI, broker_code, patch)),
    )
    _emit(ctx, out, f"intermediary {broker_code} updated")


@intermediary_group.command("list")
@click.pass_context
def intermediary_list(ctx: click.Context) -> None:
    out = _run(
        ctx, lambda s: [describe.intermediary(x) for x in svc.list_intermediaries(s, svc.CLI)]
    )
    _emit(ctx, out, lambda: _table([[x["brokerCode"], x["name"]] for x in out]))


@intermediary_group.command("key")
@click.argument("broker_code")
@click.option("--name", required=True, help="Who uses the key.")
@click.pass_context
def intermediary_key(ctx: click.Context, broker_code: str, name: str) -> None:
    """Issue a key of the administration REST API for this intermediary (shown once)."""

    def work(s: Any) -> dict[str, Any]:
        issued = svc.create_admin_key(s, svc.CLI, broker_code, name)
        return {"prefix": issued.key.prefix, "key": issued.secret, "brokerCode": broker_code}

    out = _run(ctx, work)
    _emit(ctx, out, f"{out['key']}\n(shown once; prefix {out['prefix']})")


# stations


@admin_group.group("station")
def station_group() -> None:
    """Stations (idStation), their primitives' version and pagoPA credentials."""


@station_group.command("create")
@model_options(i.StationInput)
@click.pass_context
def station_create(ctx: click.Context, **values: Any) -> None:
    data = model_input(i.StationInput, values)
    out = _run(ctx, lambda s: describe.station(svc.create_station(s, svc.CLI, data)))
    _emit(ctx, out, f"station {out['stationCode']} created")


@station_group.command("update")
@click.argument("station_code")
@model_options(i.StationPatch)
@click.pass_context
def station_update(ctx: click.Context, station_code: str, **values: Any) -> None:
    patch = model_input(i.StationPatch, values)
    out = _run(ctx, lambda s: describe.station(svc.update_station(s, svc.CLI, station_code, patch)))
    _emit(ctx, out, f"station {station_code} updated")


@station_group.command("list")
@click.pass_context
def station_list(ctx: click.Context) -> None:
    out = _run(ctx, lambda s: [describe.station(x) for x in svc.list_stations(s, svc.CLI)])
    _emit(
        ctx,
        out,
        lambda: _table(
            [
                [x["stationCode"], x["brokerCode"], f"V{x['primitiveVersion']}", len(x["enti"])]
                for x in out
            ]
        ),
    )


# Enti


@admin_group.group("ente")
def ente_group() -> None:
    """Enti creditori: registry data, accounts, contacts, logo."""


@ente_group.command("create")
@model_options(i.EnteInput)
@click.pass_context
def ente_create(ctx: click.Context, **values: Any) -> None:
    data = model_input(i.EnteInput, values)
    out = _run(ctx, lambda s: describe.ente(svc.create_ente(s, svc.CLI, data), services=True))
    _emit(ctx, out, f"Ente {out['fiscalCode']} created")


@ente_group.command("update")
@click.argument("fiscal_code")
@model_options(i.EntePatch)
@click.pass_context
def ente_update(ctx: click.Context, fiscal_code: str, **values: Any) -> None:
    patch = model_input(i.EntePatch, values)
    out = _run(ctx, lambda s: describe.ente(svc.update_ente(s, svc.CLI, fiscal_code, patch)))
    _emit(ctx, out, f"Ente {fiscal_code} updated")


@ente_group.command("list")
@click.pass_context
def ente_list(ctx: click.Context) -> None:
    out = _run(ctx, lambda s: [describe.ente(x) for x in svc.list_enti(s, svc.CLI)])
    _emit(
        ctx,
        out,
        lambda: _table(
            [
                [x["fiscalCode"], x["name"], x["segregationCode"], " ".join(x["stations"])]
                for x in out
            ]
        ),
    )


@ente_group.command("show")
@click.argument("fiscal_code")
@click.pass_context
def ente_show(ctx: click.Context, fiscal_code: str) -> None:
    out = _run(ctx, lambda s: describe.ente(svc.get_ente(s, svc.CLI, fiscal_code), services=True))
    _emit(ctx, out, lambda: json.dumps(out, indent=2, ensure_ascii=False))


@ente_group.command("logo")
@click.argument("fiscal_code")
@click.argument(
    "image", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=False
)
@click.option("--clear", is_flag=True, help="Remove the logo.")
@click.pass_context
def ente_logo(ctx: click.Context, fiscal_code: str, image: Path | None, clear: bool) -> None:
    """Set (or --clear) the PNG or JPEG logo printed on the Ente's notices."""
    if clear == (image is not None):
        raise click.UsageError("give an IMAGE or --clear")
    data = None if image is None else image.read_bytes()
    _run(ctx, lambda s: svc.set_logo(s, svc.CLI, fiscal_code, data))
    _emit(ctx, {"fiscalCode": fiscal_code, "logo": data is not None}, "logo updated")


@ente_group.command("add-iban")
@click.argument("fiscal_code")
@model_options(i.IbanInput)
@click.pass_context
def ente_add_iban(ctx: click.Context, fiscal_code: str, **values: Any) -> None:
    """Register an account (bank or --postal) with its validity."""
    data = model_input(i.IbanInput, values)
    out = _run(ctx, lambda s: describe.iban(svc.add_iban(s, svc.CLI, fiscal_code, data)))
    _emit(ctx, out, f"account {out['iban']} of {fiscal_code} registered")


@ente_group.command("ibans")
@click.argument("fiscal_code")
@click.pass_context
def ente_ibans(ctx: click.Context, fiscal_code: str) -> None:
    out = _run(ctx, lambda s: [describe.iban(x) for x in svc.list_ibans(s, svc.CLI, fiscal_code)])
    _emit(
        ctx,
        out,
        lambda: _table(
            [
                [x["iban"], "postal" if x["postal"] else "bank", x["validFrom"], x["validUntil"]]
                for x in out
            ]
        ),
    )


# payment services


@admin_group.group("service")
def service_group() -> None:
    """Payment services of an Ente."""


@service_group.command("create")
@click.argument("fiscal_code")
@model_options(i.ServiceInput)
@click.pass_context
def service_create(ctx: click.Context, fiscal_code: str, **values: Any) -> None:
    data = model_input(i.ServiceInput, values)
    out = _run(ctx, lambda s: describe.service(svc.create_service(s, svc.CLI, fiscal_code, data)))
    _emit(ctx, out, f"service {out['code']} of {fiscal_code} created")


@service_group.command("update")
@click.argument("fiscal_code")
@click.argument("code")
@model_options(i.ServicePatch)
@click.pass_context
def service_update(ctx: click.Context, fiscal_code: str, code: str, **values: Any) -> None:
    patch = model_input(i.ServicePatch, values)
    out = _run(
        ctx, lambda s: describe.service(svc.update_service(s, svc.CLI, fiscal_code, code, patch))
    )
    _emit(ctx, out, f"service {code} of {fiscal_code} updated")


@service_group.command("list")
@click.argument("fiscal_code")
@click.pass_context
def service_list(ctx: click.Context, fiscal_code: str) -> None:
    out = _run(
        ctx, lambda s: [describe.service(x) for x in svc.list_services(s, svc.CLI, fiscal_code)]
    )
    _emit(
        ctx,
        out,
        lambda: _table([[x["code"], x["kind"], x["taxonomy"], x["iban"], x["label"]] for x in out]),
    )


@service_group.command("preview")
@click.argument("form")
@click.option("--lang", type=click.Choice(["it", "en"]), default="it", show_default=True)
@click.pass_context
def service_preview(ctx: click.Context, form: str, lang: str) -> None:
    """What a form definition (JSON or @file.json) asks the citizen, without saving it."""
    try:
        out = svc.preview_form(_json_value(form), lang)
    except i.InvalidInput as exc:
        raise click.ClickException(str(exc)) from None

    def text() -> str:
        lines = [
            f"{f['label']} ({f['name']}, {f['type']}{', required' if f['required'] else ''})"
            for f in out["fields"]
        ]
        return "\n".join([*lines, f"payer: {', '.join(out['payer'])}", f"amount: {out['amount']}"])

    _emit(ctx, out, text)


@service_group.command("set-lookup")
@click.argument("fiscal_code")
@click.argument("code")
@model_options(i.LookupInput)
@click.pass_context
def service_set_lookup(ctx: click.Context, fiscal_code: str, code: str, **values: Any) -> None:
    """Ask the Ente's back office for the debt (precomputed services); prints the secret
    that signs the requests (shown once)."""
    data = model_input(i.LookupInput, values)

    def work(s: Any) -> dict[str, Any]:
        registered = svc.set_lookup(s, svc.CLI, fiscal_code, code, data)
        return {"keyId": registered.endpoint.key_id, "secret": registered.secret}

    out = _run(ctx, work)
    _emit(ctx, out, f"key id {out['keyId']}\nsecret {out['secret']} (shown once)")


# level-1 portals


@admin_group.group("portal")
def portal_group() -> None:
    """Level-1 portals of the Enti and their keys."""


@portal_group.command("create")
@model_options(i.PortalInput)
@click.pass_context
def portal_create(ctx: click.Context, **values: Any) -> None:
    data = model_input(i.PortalInput, values)

    def work(s: Any) -> dict[str, Any]:
        registered = svc.create_portal(s, svc.CLI, data)
        return {
            **describe.portal(registered.portal),
            "secret": registered.secret,
            "notifySecret": registered.notify_secret,
        }

    out = _run(ctx, work)
    if out["secret"] is None:  # a PayER portal: its own IV and Key
        _emit(ctx, out, f"portal {out['keyId']} (PayER Buffer protocol, its own IV and Key)")
    else:
        _emit(ctx, out, f"portal {out['keyId']}\nsecret {out['secret']} (shown once)")


@portal_group.command("list")
@click.pass_context
def portal_list(ctx: click.Context) -> None:
    out = _run(ctx, lambda s: [describe.portal(x) for x in svc.list_portals(s, svc.CLI)])
    _emit(
        ctx,
        out,
        lambda: _table(
            [
                [x["keyId"], x["name"], " ".join(x["enti"]), "active" if x["active"] else "off"]
                for x in out
            ]
        ),
    )


@portal_group.command("rotate")
@click.argument("key_id")
@click.pass_context
def portal_rotate(ctx: click.Context, key_id: str) -> None:
    """A new secret for the portal (the old one stops working at once)."""
    secret = _run(ctx, lambda s: svc.rotate_portal_secret(s, svc.CLI, key_id))
    _emit(ctx, {"keyId": key_id, "secret": secret}, f"secret {secret} (shown once)")


@portal_group.command("update")
@click.argument("key_id")
@model_options(i.PortalPatch)
@click.option("--no-notify-url", "clear_notify_url", is_flag=True, help="Stop the notifications.")
@click.pass_context
def portal_update(ctx: click.Context, key_id: str, clear_notify_url: bool, **values: Any) -> None:
    """Change a portal's name, Enti (--enti repeated: the whole list), return URL prefix or
    notification URL; a first notification URL prints its signing secret (shown once)."""
    if clear_notify_url and values.get("notify_url") is not None:
        raise click.UsageError("give --notify-url or --no-notify-url, not both")
    patch = model_input(i.PortalPatch, values)
    if clear_notify_url:
        patch = i.parse(i.PortalPatch, {**patch.given(), "notify_url": None})

    def work(s: Any) -> dict[str, Any]:
        changed = svc.update_portal(s, svc.CLI, key_id, patch)
        return {**describe.portal(changed.portal), "notifySecret": changed.notify_secret}

    out = _run(ctx, work)
    secret = out["notifySecret"]
    text = f"portal {key_id} updated"
    _emit(ctx, out, text + (f"\nnotification secret {secret} (shown once)" if secret else ""))


@portal_group.command("set-active")
@click.argument("key_id")
@click.argument("active", type=bool)
@click.pass_context
def portal_set_active(ctx: click.Context, key_id: str, active: bool) -> None:
    out = _run(ctx, lambda s: describe.portal(svc.set_portal_active(s, svc.CLI, key_id, active)))
    _emit(ctx, out, f"portal {key_id} {'active' if active else 'disabled'}")


# webhook endpoints


@admin_group.group("webhook")
def webhook_group() -> None:
    """Webhook endpoints of an Ente's applications."""


@webhook_group.command("create")
@click.argument("fiscal_code")
@model_options(i.WebhookEndpointInput)
@click.pass_context
def webhook_create(ctx: click.Context, fiscal_code: str, **values: Any) -> None:
    data = model_input(i.WebhookEndpointInput, values)

    def work(s: Any) -> dict[str, Any]:
        registered = svc.create_webhook(s, svc.CLI, fiscal_code, data)
        return {**describe.webhook(registered.endpoint), "secret": registered.secret}

    out = _run(ctx, work)
    _emit(ctx, out, f"webhook {out['id']}\nsecret {out['secret']} (shown once)")


@webhook_group.command("list")
@click.argument("fiscal_code")
@click.pass_context
def webhook_list(ctx: click.Context, fiscal_code: str) -> None:
    out = _run(
        ctx, lambda s: [describe.webhook(x) for x in svc.list_webhooks(s, svc.CLI, fiscal_code)]
    )
    _emit(ctx, out, lambda: _table([[x["id"], x["url"], " ".join(x["events"])] for x in out]))


@webhook_group.command("delete")
@click.argument("fiscal_code")
@click.argument("webhook_id")
@click.pass_context
def webhook_delete(ctx: click.Context, fiscal_code: str, webhook_id: str) -> None:
    _run(ctx, lambda s: svc.delete_webhook(s, svc.CLI, fiscal_code, webhook_id))
    _emit(ctx, {"id": webhook_id, "deleted": True}, f"webhook {webhook_id} deleted")


# operator accounts


@admin_group.group("operator")
def operator_group() -> None:
    """Dashboard accounts and their roles."""


@operator_group.command("create")
@model_options(i.OperatorInput, skip=("password",))
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@click.pass_context
def operator_create(ctx: click.Context, password_stdin: bool, **values: Any) -> None:
    if password_stdin:
        values["password"] = sys.stdin.readline().rstrip("\n")
    else:
        values["password"] = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    data = model_input(i.OperatorInput, values)
    out = _run(ctx, lambda s: describe.operator(svc.create_operator(s, svc.CLI, data)))
    _emit(ctx, out, f"account {out['username']} ({out['role']}) created")


@operator_group.command("update")
@click.argument("username")
@model_options(i.OperatorPatch)
@click.pass_context
def operator_update(ctx: click.Context, username: str, **values: Any) -> None:
    patch = model_input(i.OperatorPatch, values)
    out = _run(ctx, lambda s: describe.operator(svc.update_operator(s, svc.CLI, username, patch)))
    _emit(ctx, out, f"account {username} updated")


@operator_group.command("list")
@click.pass_context
def operator_list(ctx: click.Context) -> None:
    out = _run(ctx, lambda s: [describe.operator(x) for x in svc.list_operators(s, svc.CLI)])
    _emit(
        ctx,
        out,
        lambda: _table(
            [
                [
                    x["username"],
                    x["role"],
                    "enabled" if x["enabled"] else "disabled",
                    " ".join(x["enti"]),
                ]
                for x in out
            ]
        ),
    )


# the history of changes


@admin_group.command("history")
@click.option("--ente", "fiscal_code", default=None, help="Only this Ente's changes.")
@click.option("--target", default=None, help="Only this object's (station:CODE, portal:KEY, ...).")
@click.option("--limit", type=click.IntRange(1, svc.HISTORY_MAX), default=50, show_default=True)
@click.pass_context
def history(ctx: click.Context, fiscal_code: str | None, target: str | None, limit: int) -> None:
    """Who changed what and when, newest first, with the fields before and after (secrets as
    ***): the administration, dashboard accounts and activation requests."""
    out = _run(
        ctx,
        lambda s: [
            describe.change(x)
            for x in svc.history(s, svc.CLI, fiscal_code=fiscal_code, target=target, limit=limit)
        ],
    )

    def text() -> str:
        lines = []
        for x in out:
            fields = x["after"] or x["detail"] or {}
            changed = ", ".join(
                f"{k}: {(x['before'] or {}).get(k)!r} -> {v!r}" if x["before"] else f"{k}={v!r}"
                for k, v in fields.items()
            )
            lines.append(f"{x['at']}\t{x['actor']}\t{x['action']}\t{x['target'] or ''}\t{changed}")
        return "\n".join(lines)

    _emit(ctx, out, text)


# bulk onboarding


@admin_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default=None)
@click.option(
    "--dry-run/--load",
    default=True,
    show_default=True,
    help="Check and report only (the default), or load.",
)
@click.pass_context
def import_enti(ctx: click.Context, file: Path, fmt: str | None, dry_run: bool) -> None:
    """Onboard many Enti with their services from a CSV or JSON file: a per-row report of
    what would be (or was) created, updated, left unchanged, or refused. Exit status 1 if any
    row is refused."""
    from hub.admin import onboarding

    def work(s: Any) -> onboarding.Report:
        entries = onboarding.read_file(file.read_bytes(), fmt, name=file.name)
        return onboarding.onboard(s, svc.CLI, entries, dry_run=dry_run)

    report = _run(ctx, work)
    out = report.as_dict()

    def text() -> str:
        lines = [
            f"row {r.row}\t{r.fiscal_code or ''}\t{r.service or ''}\t{r.action}\t{r.message}"
            for r in report.rows
            if r.action != "unchanged"
        ]
        totals = ", ".join(f"{v} {k}" for k, v in out["totals"].items())
        return "\n".join([*lines, f"{'dry run' if dry_run else 'loaded'}: {totals}"])

    _emit(ctx, out, text)
    if not report.ok:
        ctx.exit(1)
