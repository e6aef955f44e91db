"""Support staff only: stuck payments, webhook deliveries not delivered (pending, sending,
retrying or dead, with their next due time), outbox messages given up (dead), open anomalies,
and the actions on them (resolve an anomaly with a note, replay any delivery not delivered,
send a dead outbox message again). Every action is audited."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from pyramid.httpexceptions import HTTPNotFound, HTTPSeeOther
from pyramid.view import view_config

from hub import dashboard, outbox
from hub.calendar import BusinessCalendar
from hub.config import from_registry
from hub.db import utcnow
from hub.errors import Conflict, NotFound
from hub.models import Ente, WebhookDelivery
from hub.notify import webhooks
from hub.sla import anomalies as sla_anomalies
from web.checkout.i18n import _, localized
from web.ops.common import T, actor, audit_action, flash
from web.ops.security import account_of, require_support, visible_enti
from workflows.payment import OptionStatus


@view_config(route_name="ops.stuck", renderer=T + "stuck.jinja2", decorator=localized)
def stuck(request: Any) -> dict[str, Any]:
    require_support(request)
    settings = from_registry(request.registry)
    grace = settings.ops_stuck_activation_grace_minutes
    paid_days = settings.ops_stuck_paid_days
    reported_days = settings.ops_stuck_reported_days
    db = request.db
    return {
        "grace": grace,
        "paid_days": paid_days,
        "reported_days": reported_days,
        # the template's sections, each named after the state it lists
        OptionStatus.IN_PROGRESS: dashboard.stuck_in_progress(
            db, grace=dt.timedelta(minutes=grace)
        ),
        OptionStatus.PAID: dashboard.paid_not_reported(db, days=paid_days),
        OptionStatus.REPORTED: dashboard.reported_not_reconciled(db, days=reported_days),
        "undelivered": _undelivered(db),
        "dead_messages": outbox.dead(db, limit=200),
    }


def _undelivered(db: Any, limit: int = 200) -> list[tuple[WebhookDelivery, str]]:
    """Deliveries not delivered, newest first, each with its Ente's fiscal code."""
    rows = webhooks.undelivered(db, None, limit=limit)
    codes = {
        row.id: row.fiscal_code
        for row in db.execute(
            sa.select(Ente.id, Ente.fiscal_code).where(Ente.id.in_({d.ente_id for d in rows}))
        )
    }
    return [(d, codes.get(d.ente_id, "")) for d in rows]


@view_config(route_name="ops.anomalies", renderer=T + "anomalies.jinja2", decorator=localized)
def anomalies(request: Any) -> dict[str, Any]:
    """Support sees every Ente's anomalies and resolves them; an Ente's operators see their
    own Enti's, read-only (issue 19), with the SLA figure: by kind, by age, the old ones."""
    account = account_of(request)
    kind = request.GET.get("kind", "")
    ec = request.GET.get("ente", "")
    enti = visible_enti(request)
    ente = next((e for e in enti if e.fiscal_code == ec), None)
    scope = None if account.is_support else [e.id for e in enti]
    if ente is not None:
        rows = dashboard.open_anomalies(request.db, kind=kind, ente_id=ente.id)
    elif scope is None:
        rows = dashboard.open_anomalies(request.db, kind=kind)
    else:
        rows = [
            r for e in enti for r in dashboard.open_anomalies(request.db, kind=kind, ente_id=e.id)
        ]
        rows.sort(key=lambda r: r[0].id, reverse=True)
    settings = from_registry(request.registry)
    return {
        "kind": kind,
        "ec": ente.fiscal_code if ente else "",
        "enti": enti,
        "kinds": dashboard.anomaly_kinds(request.db),
        "anomalies": rows,
        "can_resolve": account.is_support,
        "figure": sla_anomalies.measure(
            request.db,
            BusinessCalendar.from_settings(settings),
            utcnow(),
            limit_working_days=settings.sla_anomaly_max_working_days,
            ente_ids=scope if ente is None else [ente.id],
            trend_days=14,
        ),
    }


@view_config(
    route_name="ops.resolve", request_method="POST", require_csrf=True, decorator=localized
)
def resolve(request: Any) -> HTTPSeeOther:
    require_support(request)
    note = request.POST.get("note", "").strip()
    back = HTTPSeeOther(location=request.route_path("ops.anomalies"))
    if not note:
        flash(request, _("Write a note saying how the anomaly was resolved."), "error")
        return back
    try:
        anomaly = dashboard.resolve_anomaly(
            request.db, int(request.matchdict["anomaly"]), note=note[:2000], by=actor(request)
        )
    except NotFound:
        raise HTTPNotFound() from None
    except Conflict:
        flash(request, _("The anomaly was already resolved."), "error")
        return back
    audit_action(
        request,
        "ops.anomaly_resolve",
        target=f"anomaly:{anomaly.id}",
        ente_id=anomaly.ente_id,
        detail={"kind": anomaly.kind},
    )
    flash(request, _("Anomaly resolved."))
    return back


@view_config(route_name="ops.replay", request_method="POST", require_csrf=True, decorator=localized)
def replay(request: Any) -> HTTPSeeOther:
    require_support(request)
    delivery = request.db.get(WebhookDelivery, int(request.matchdict["delivery"]))
    if delivery is None:
        raise HTTPNotFound()
    back = HTTPSeeOther(location=request.route_path("ops.stuck"))
    try:
        webhooks.replay(request.db, delivery)
    except Conflict:
        flash(
            request,
            _(
                "This delivery cannot be replayed: it was delivered, is being sent "
                "right now, or its endpoint was deleted."
            ),
            "error",
        )
        return back
    audit_action(
        request,
        "ops.webhook_replay",
        target=f"webhook_delivery:{delivery.public_id}",
        ente_id=delivery.ente_id,
    )
    flash(request, _("The delivery will be sent again."))
    return back


@view_config(route_name="ops.revive", request_method="POST", require_csrf=True, decorator=localized)
def revive(request: Any) -> HTTPSeeOther:
    """Send a dead outbox message again: a new round of attempts (the consumer's duplicate
    check keeps its effect single if an earlier send did get through)."""
    require_support(request)
    message_id = int(request.matchdict["message"])
    back = HTTPSeeOther(location=request.route_path("ops.stuck", _anchor="dead-messages"))
    if not outbox.revive(request.db, message_id):
        flash(request, _("This message cannot be sent again: it is not dead any more."), "error")
        return back
    audit_action(request, "ops.outbox_revive", target=f"outbox_message:{message_id}", ente_id=None)
    flash(request, _("The message will be sent again."))
    return back
