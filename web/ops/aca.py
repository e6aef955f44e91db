"""The dashboard's ACA page (issue 20): where each published position of the Ente stands with
pagoPA's ACA, the share in step (KPI B.4), the Ente's recent bulk uploads (hub.aca_bulk) and
the per-Ente switch (support staff)."""

from __future__ import annotations

from typing import Any

from pyramid.httpexceptions import HTTPNotFound, HTTPSeeOther
from pyramid.view import view_config

from hub import aca, aca_bulk
from web.checkout.i18n import _, localized
from web.ops.common import T, audit_action, flash
from web.ops.security import ente_of, require_support

STATE_LABELS = {
    "in_step": _("in step"),
    "behind": _("changed since, to send"),
    "pending": _("queued"),
    "failed": _("failed, retrying"),
    "dead": _("given up: support"),
    "not_sent": _("not sent yet"),
}

# an ACA bulk upload's state (hub.aca_bulk)
UPLOAD_LABELS = {
    "pending": _("queued"),
    "uploaded": _("sent, ACA is processing it"),
    "done": _("done: report applied"),
    "failed": _("failed, retrying"),
    "dead": _("given up: positions sent one by one"),
}


@view_config(route_name="ops.aca", renderer=T + "aca.jinja2", decorator=localized)
def aca_page(request: Any) -> dict[str, Any]:
    ente = ente_of(request)
    return {
        "ente": ente,
        "enabled": aca.enabled(request.db, ente.id),
        "figures": aca.share(request.db, [ente.id]),
        "rows": aca.positions(request.db, ente.id),
        "labels": STATE_LABELS,
        "uploads": aca_bulk.recent(request.db, ente.id),
        "upload_labels": UPLOAD_LABELS,
    }


@view_config(
    route_name="ops.aca_switch", request_method="POST", require_csrf=True, decorator=localized
)
def aca_switch(request: Any) -> HTTPSeeOther:
    """Support staff switch the Ente's ACA feed on or off."""
    require_support(request)
    ente = ente_of(request)
    on = request.POST.get("enabled") == "on"
    aca.set_enabled(request.db, ente, on)
    audit_action(
        request,
        "ops.aca_switch",
        target=f"ente:{ente.fiscal_code}",
        ente_id=ente.id,
        detail={"enabled": on},
    )
    flash(request, _("The ACA feed is on.") if on else _("The ACA feed is off."))
    return HTTPSeeOther(location=request.route_path("ops.aca", ec=ente.fiscal_code))


@view_config(
    route_name="ops.aca_requeue", request_method="POST", require_csrf=True, decorator=localized
)
def aca_requeue(request: Any) -> HTTPSeeOther:
    """Support staff send a given-up (or failing) position to ACA again now."""
    require_support(request)
    ente = ente_of(request)
    position_id = int(request.matchdict["position"])
    row = next(
        (
            r
            for r in aca.positions(request.db, ente.id, limit=10_000)
            if r.position_id == position_id
        ),
        None,
    )
    if row is None:
        raise HTTPNotFound()
    back = HTTPSeeOther(location=request.route_path("ops.aca", ec=ente.fiscal_code))
    if not aca.requeue(request.db, position_id):
        flash(request, _("This position is not failing: nothing to send again."), "error")
        return back
    audit_action(request, "ops.aca_requeue", target=f"debt_position:{row.iupd}", ente_id=ente.id)
    flash(request, _("The position will be sent to ACA again."))
    return back
