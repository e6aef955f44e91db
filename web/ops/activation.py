"""Activation and change requests in the dashboard: the list with each request's SLA clock
(working days used and left, near or past target highlighted), one request's history and the
steps allowed now (the intermediary's administrators act; support and Ente operators read, an
operator only its Enti's), and the referente's public confirmation page, reached by the signed
link of the e-mail (hub.onboarding.confirmations)."""

from __future__ import annotations

from typing import Any

from pyramid.httpexceptions import HTTPNotFound, HTTPSeeOther
from pyramid.view import view_config

from hub import signing
from hub.clock import ROME
from hub.config import from_registry
from hub.errors import DomainError, NotFound
from hub.onboarding import confirmations, requests
from hub.onboarding.sla import ClockStatus, Rules
from web.checkout.i18n import _, localized
from web.ops.common import T, actor, flash
from web.ops.security import account_of, require_intermediary

ROUTES = (
    ("ops.activation_list", "/activation/"),
    ("ops.activation_open", "/activation/open"),
    ("ops.activation_request", "/activation/{request:[0-9]{1,9}}"),
    ("ops.activation_move", "/activation/{request:[0-9]{1,9}}/move"),
    # public: the referente's link (hub.onboarding.confirmations.CONFIRM_PATH)
    ("ops.activation_confirm", "/activation/confirm/{token:[A-Za-z0-9._-]{1,600}}"),
)
HIGHLIGHT = {ClockStatus.NEAR: "near", ClockStatus.LATE: "late", ClockStatus.DONE_LATE: "late"}


def includeme(config: Any) -> None:
    for name, pattern in ROUTES:
        config.add_route(name, pattern)
    config.scan("web.ops.activation")


def _visible_ente_ids(request: Any) -> set[int] | None:
    """None: every Ente (support, the intermediary); else the operator's Enti."""
    account = account_of(request)
    return None if account.is_support else {e.id for e in account.enti}


def _rules(request: Any) -> Rules:
    return Rules.from_settings(from_registry(request.registry))


@view_config(
    route_name="ops.activation_list", renderer=T + "activation_list.jinja2", decorator=localized
)
def activation_list(request: Any) -> dict[str, Any]:
    ente_ids = _visible_ente_ids(request)
    open_only = request.GET.get("all") != "1"
    rules = _rules(request)
    rows = [
        (r, rules.clock(r))
        for r in requests.list_requests(request.db, ente_ids=ente_ids, open_only=open_only)
    ]
    return {
        "rows": rows,
        "open_only": open_only,
        "highlight": HIGHLIGHT,
        "target_days": rules.target_days,
        "can_act": request.identity.is_intermediary,
        "rome": ROME,
    }


@view_config(
    route_name="ops.activation_request",
    renderer=T + "activation_request.jinja2",
    decorator=localized,
)
def activation_request(request: Any) -> dict[str, Any]:
    ente_ids = _visible_ente_ids(request)
    try:
        found = requests.get_request(request.db, int(request.matchdict["request"]))
    except NotFound:
        raise HTTPNotFound() from None
    if ente_ids is not None and found.ente_id not in ente_ids:
        raise HTTPNotFound()  # an operator must not learn other Enti's requests exist
    can_act = request.identity.is_intermediary
    return {
        "req": found,
        "clock": _rules(request).clock(found),
        "highlight": HIGHLIGHT,
        "events": requests.allowed_events(found) if can_act else (),
        "can_act": can_act,
        "rome": ROME,
    }


@view_config(
    route_name="ops.activation_move", request_method="POST", require_csrf=True, decorator=localized
)
def activation_move(request: Any) -> HTTPSeeOther:
    require_intermediary(request)
    request_id = int(request.matchdict["request"])
    back = HTTPSeeOther(location=request.route_path("ops.activation_request", request=request_id))
    try:
        requests.move(
            request.db,
            request_id,
            request.POST.get("event", ""),
            actor=actor(request),
            note=request.POST.get("note", ""),
            station_code=request.POST.get("station", "").strip() or None,
        )
    except NotFound as exc:
        if exc.code == "not_found" and "activation request" in str(exc):
            raise HTTPNotFound() from None
        flash(request, _("Not done: ${reason}", mapping={"reason": str(exc)}), "error")
        return back
    except DomainError as exc:
        flash(request, _("Not done: ${reason}", mapping={"reason": str(exc)}), "error")
        return back
    flash(request, _("Step recorded."))
    return back


@view_config(
    route_name="ops.activation_open", request_method="POST", require_csrf=True, decorator=localized
)
def activation_open(request: Any) -> HTTPSeeOther:
    require_intermediary(request)
    back = HTTPSeeOther(location=request.route_path("ops.activation_list"))
    try:
        ente = requests.ente_by_code(request.db, request.POST.get("ente", "").strip()[:11])
        opened = requests.open_request(
            request.db,
            ente=ente,
            kind=request.POST.get("kind", ""),
            subject=request.POST.get("subject", ""),
            actor=actor(request),
            service_code=request.POST.get("service", "").strip()[:35] or None,
            complete=request.POST.get("complete") == "1",
            note=request.POST.get("note", ""),
        )
    except DomainError as exc:
        flash(request, _("Not done: ${reason}", mapping={"reason": str(exc)}), "error")
        return back
    flash(request, _("Request recorded."))
    return HTTPSeeOther(location=request.route_path("ops.activation_request", request=opened.id))


@view_config(
    route_name="ops.activation_confirm",
    renderer=T + "activation_confirm.jinja2",
    decorator=localized,
    require_csrf=True,
)
def activation_confirm(request: Any) -> dict[str, Any]:
    """The referente's page: what was configured, and two answers (it works / a problem)."""
    config = from_registry(request.registry)
    token = request.matchdict["token"]
    try:
        found = confirmations.awaited(request.db, config, token)
    except signing.BadLink as exc:
        request.response.status = 410 if exc.expired else 404
        # not a payment state: the link's problem, named in the template
        return {"problem": "expired" if exc.expired else "invalid"}
    except NotFound:
        request.response.status = 404
        return {"problem": "invalid"}
    except confirmations.LinkNoLongerAwaited:
        return {"problem": "answered"}
    errors: dict[str, Any] = {}
    if request.method == "POST":
        reporting = request.POST.get("answer") == "problem"
        problem = request.POST.get("problem", "").strip()
        if reporting and not problem:
            errors["problem"] = request.localizer.translate(_("Describe the problem."))
        else:
            try:
                step = confirmations.answer(
                    request.db, config, token, problem=problem if reporting else None
                )
            except confirmations.LinkNoLongerAwaited:  # answered twice (two tabs, a reload)
                return {"problem": "answered"}
            return {"problem": None, "done": step, "found": found, "errors": {}, "rome": ROME}
    if errors:
        request.response.status = 400
    return {"problem": None, "done": None, "found": found, "errors": errors, "rome": ROME}
