"""An Ente's daily-file delivery targets from /ops/ (the Ente's daily-files page): add one,
disable one, test one now (a small probe file uploaded, or a short e-mail).

Who may do what: everyone who sees the Ente (its operators, support, the intermediary) sees its
targets and may test them (a test only reaches a destination already configured); adding and
disabling a target is for support and the intermediary's administrators (``is_support``), as
with the Ente's other settings that send its data outside payhub (its services, portals and
stations are administered by the intermediary): an operator gets 403. The Ente's own
back-office may change them through the REST API with its key (web/api/dailyfile_targets.py).

The checks are hub.dailyfile.targets' (the CLI's too): the host against the outgoing policy,
the SFTP host key pinned, e-mail addresses. A password or a private key is written, never shown
back, never put in the re-displayed form, never audited or logged. Every change is audited."""

from __future__ import annotations

from typing import Any

import structlog
from pyramid.httpexceptions import HTTPNotFound, HTTPSeeOther
from pyramid.view import view_config

from hub import http
from hub.config import from_registry
from hub.dailyfile import targets
from hub.dailyfile.transports import DeliveryError
from hub.errors import Conflict
from hub.models import DailyFileTarget, Ente
from web.checkout.i18n import _, localized
from web.ops.common import T, audit_action, flash
from web.ops.dailyfiles import daily_files
from web.ops.security import ente_of, require_support

log = structlog.get_logger(__name__)
PROBE_TIMEOUT = 20.0
# the form's fields kept when it is shown again after an error (never a secret)
SHOWN_BACK = ("kind", "service", "host", "port", "username", "directory", "host_key", "recipients")


def _messages(exc: targets.BadTarget) -> Any:
    """The reason in the user's language."""
    detail = {"detail": exc.detail}
    return {
        "kind": _("Choose SFTP, FTPS or e-mail."),
        "service_code": _("Choose one of the Ente's services, or every service."),
        "too_long": _("The field ${detail} is too long.", mapping=detail),
        "recipients_missing": _("Give at least one e-mail address."),
        "recipients_many": _("Give at most 20 e-mail addresses."),
        "recipient": _("${detail} is not an e-mail address.", mapping=detail),
        "host_missing": _("Give the server's host name."),
        "host_invalid": _("${detail} is not a host name or an IPv4 address.", mapping=detail),
        "host_refused": _("payhub may not connect to this host (${detail}).", mapping=detail),
        "username": _("Give the user name."),
        "port": _("The port must be a number between 1 and 65535."),
        "directory": _('The folder must be a plain path, without "..".'),
        "host_key_missing": _("Pin the server's host key (as ssh-keyscan prints it)."),
        "host_key": _("The host key is not an OpenSSH public key (ssh-ed25519 AAAA...)."),
        "private_key": _("The private key is not an unencrypted OpenSSH or PEM key."),
        "password": _("Give a password (or, for SFTP, a private key)."),
    }.get(exc.code, exc.message)


def _policy(request: Any) -> http.UrlPolicy:
    """This process's outgoing policy (hub.config.start set it from
    ``payhub.outgoing_allowed_networks``), the one the deliveries use."""
    return http.url_policy()


def _target_of(request: Any, ente: Ente) -> DailyFileTarget:
    target = targets.find(request.db, ente.id, int(request.matchdict["target"]))
    if target is None:
        raise HTTPNotFound()
    return target


def _audit(
    request: Any, ente: Ente, target: Any, action: str, detail: dict[str, Any] | None = None
) -> None:
    """Record ``action`` on ``target``, with ``detail`` or else the target's description."""
    audit_action(
        request,
        action,
        target=f"daily_file_target:{target.id}",
        ente_id=ente.id,
        detail=targets.audit_detail(target) if detail is None else detail,
    )


def _back(request: Any, ente: Ente) -> HTTPSeeOther:
    return HTTPSeeOther(
        location=request.route_path("ops.daily_files", ec=ente.fiscal_code, _anchor="targets")
    )


@view_config(
    route_name="ops.daily_file_targets",
    request_method="POST",
    require_csrf=True,
    renderer=T + "daily_files.jinja2",
    decorator=localized,
)
def add(request: Any) -> Any:
    """Add a target (support, intermediary); a bad field shows the page again, 422, with the
    reason and the form filled in (but no secret)."""
    ente = ente_of(request)
    require_support(request)
    form = request.POST
    port_text = form.get("port", "").strip()
    try:
        if port_text and not (port_text.isdigit() and len(port_text) < 6):
            raise targets.BadTarget("port", "not a port")
        target = targets.add_target(
            request.db,
            ente,
            form.get("kind", ""),
            service_code=form.get("service") or None,
            host=form.get("host", "").strip() or None,
            port=int(port_text) if port_text else None,
            username=form.get("username", "").strip() or None,
            password=form.get("password") or None,
            private_key=form.get("private_key", "").strip() or None,
            pinned_host_key=form.get("host_key", "").strip() or None,
            directory=form.get("directory", "").strip() or None,
            recipients=form.get("recipients", "").replace(",", "\n").splitlines(),
            policy=_policy(request),
        )
    except targets.BadTarget as exc:
        request.response.status = 422
        values = daily_files(request)
        values["target_error"] = request.localizer.translate(_messages(exc))
        values["target_error_field"] = exc.field
        values["target_form"] = {k: form.get(k, "") for k in SHOWN_BACK}
        return values
    _audit(request, ente, target, "ops.daily_file_target_add")
    flash(request, _("The delivery target is added: ${where}.", mapping={"where": target.where}))
    return _back(request, ente)


@view_config(
    route_name="ops.daily_file_target_disable",
    request_method="POST",
    require_csrf=True,
    decorator=localized,
)
def disable(request: Any) -> HTTPSeeOther:
    ente = ente_of(request)
    require_support(request)
    target = _target_of(request, ente)
    try:
        targets.disable(request.db, target)
    except Conflict:
        flash(request, _("The delivery target was already disabled."), "error")
        return _back(request, ente)
    _audit(request, ente, target, "ops.daily_file_target_disable")
    flash(request, _("The delivery target is disabled: ${where}.", mapping={"where": target.where}))
    return _back(request, ente)


@view_config(
    route_name="ops.daily_file_target_probe",
    request_method="POST",
    require_csrf=True,
    decorator=localized,
)
def probe(request: Any) -> HTTPSeeOther:
    """Test a target now (everyone who sees the Ente): the outcome is flashed and audited."""
    ente = ente_of(request)
    target = _target_of(request, ente)
    try:
        name = targets.probe(
            target,
            ente,
            from_registry(request.registry),
            timeout=PROBE_TIMEOUT,
            policy=_policy(request),
        )
    except DeliveryError as exc:
        outcome, reason = "error", str(exc)
        flash(request, _("The test failed: ${reason}", mapping={"reason": reason}), "error")
    else:
        outcome, reason = "ok", name
        flash(
            request,
            _("The test reached ${where}: ${name}.", mapping={"where": target.where, "name": name}),
        )
    log.info("daily_file.target_probe", target_id=target.id, outcome=outcome)
    detail = {"outcome": outcome, "reason": reason[:200]}
    _audit(request, ente, target, "ops.daily_file_target_probe", detail)
    return _back(request, ente)
