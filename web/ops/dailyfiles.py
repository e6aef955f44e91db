"""The daily files in /ops/ (issue 18): an Ente's files (download every version), its delivery
targets (never a secret), its deliveries (failed ones first, re-delivered by hand), a past day
built on demand; for support, the Enti that did not receive a day's files; and the signed
download link e-mailed when a file is too large to attach.

Every Ente page shows a warning while a delivery of its files is failing (``BeforeRender``:
``daily_file_failures``), so a failed delivery is visible on the Ente's dashboard."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pyramid.events import BeforeRender, subscriber
from pyramid.httpexceptions import HTTPNotFound, HTTPSeeOther
from pyramid.view import view_config

from hub import clock, signing
from hub.config import from_registry
from hub.dailyfile import delivery, files, targets, transports
from hub.errors import Conflict
from hub.models import DailyFile, DailyFileDelivery, DailyFileTarget, Ente
from web.api.dailyfiles import zip_response
from web.checkout.i18n import _, localized
from web.ops.common import T, audit_action, flash
from web.ops.security import ente_of, require_support

FAILING = ("dead", "retrying")


@subscriber(BeforeRender)
def _failures(event: Any) -> None:
    """Ente pages: how many deliveries of the Ente's files are failing right now."""
    name = event.get("renderer_name") or ""
    values = event.rendering_val if isinstance(event.rendering_val, dict) else {}
    ente = values.get("ente")
    request = event.get("request")
    if not name.startswith("web.ops:") or not isinstance(ente, Ente) or request is None:
        return
    event["daily_file_failures"] = request.db.scalar(
        sa.select(sa.func.count(DailyFileDelivery.id)).where(
            DailyFileDelivery.ente_id == ente.id, DailyFileDelivery.status.in_(FAILING)
        )
    )


@view_config(route_name="ops.daily_files", renderer=T + "daily_files.jinja2", decorator=localized)
def daily_files(request: Any) -> dict[str, Any]:
    ente = ente_of(request)
    deliveries = delivery.deliveries_of(request.db, ente.id, limit=200)
    deliveries.sort(key=lambda d: (d.status not in FAILING, -d.id))
    file_ids = {d.file_id for d in deliveries}
    by_id = {
        f.id: f for f in request.db.scalars(sa.select(DailyFile).where(DailyFile.id.in_(file_ids)))
    }
    configured = request.db.scalars(
        sa.select(DailyFileTarget)
        .where(DailyFileTarget.ente_id == ente.id)
        .order_by(DailyFileTarget.id)
    )
    return {
        "ente": ente,
        "files": files.files_of(request.db, ente.id, limit=120),
        "deliveries": [(d, by_id.get(d.file_id)) for d in deliveries],
        "targets": [targets.describe(t) for t in configured],
        "yesterday": (clock.today() - dt.timedelta(days=1)).isoformat(),
        # delivery targets from the dashboard (web/ops/dailyfile_targets.py)
        "can_change_targets": request.identity.is_support,
        "services": sorted(s.code for s in ente.services),
        "target_form": {},
        "target_error": None,
        "target_error_field": None,
    }


def _file_of(request: Any, ente: Ente) -> DailyFile:
    file = request.db.get(DailyFile, int(request.matchdict["file"]))
    if file is None or file.ente_id != ente.id or not Path(file.path).exists():
        raise HTTPNotFound()
    return file


@view_config(route_name="ops.daily_file_zip", request_method="GET")
def download(request: Any) -> Any:
    ente = ente_of(request)
    file = _file_of(request, ente)
    audit_action(
        request, "ops.daily_file_download", target=f"daily_file:{file.id}", ente_id=ente.id
    )
    return zip_response(request, file)


@view_config(
    route_name="ops.daily_file_build", request_method="POST", require_csrf=True, decorator=localized
)
def build(request: Any) -> HTTPSeeOther:
    """Build a past day's files now (in the background, through the outbox)."""
    ente = ente_of(request)
    back = HTTPSeeOther(location=request.route_path("ops.daily_files", ec=ente.fiscal_code))
    try:
        day = dt.date.fromisoformat(request.POST.get("day", ""))
    except ValueError:
        flash(request, _("Give the day as YYYY-MM-DD."), "error")
        return back
    if day >= clock.today():
        flash(request, _("Only a day that is over can be built."), "error")
        return back
    files.queue_build(request.db, ente.id, day)
    audit_action(
        request, "ops.daily_file_build", target=f"daily_files:{day.isoformat()}", ente_id=ente.id
    )
    flash(
        request,
        _("The files of ${day} are being built; a new version only if receipts arrived since.",
          mapping={"day": day.isoformat()}),
    )  # fmt: skip
    return back


@view_config(
    route_name="ops.daily_file_redeliver",
    request_method="POST",
    require_csrf=True,
    decorator=localized,
)
def redeliver(request: Any) -> HTTPSeeOther:
    ente = ente_of(request)
    row = request.db.get(DailyFileDelivery, int(request.matchdict["delivery"]))
    if row is None or row.ente_id != ente.id:
        raise HTTPNotFound()
    if request.POST.get("back") == "support":  # from support's list of dead letters
        back = HTTPSeeOther(location=request.route_path("ops.daily_files_missing"))
    else:
        back = HTTPSeeOther(location=request.route_path("ops.daily_files", ec=ente.fiscal_code))
    try:
        delivery.redeliver(request.db, row)
    except Conflict:
        flash(request, _("This file is being delivered right now."), "error")
        return back
    audit_action(
        request, "ops.daily_file_redeliver", target=f"daily_file_delivery:{row.id}", ente_id=ente.id
    )
    flash(request, _("The file will be delivered again."))
    return back


@view_config(
    route_name="ops.daily_files_missing",
    renderer=T + "daily_files_missing.jinja2",
    decorator=localized,
)
def missing(request: Any) -> dict[str, Any]:
    """Support: the Enti that did not receive a day's files (default yesterday), and every
    delivery given up whatever its day (the dead letters, each to deliver again)."""
    require_support(request)
    try:
        day = dt.date.fromisoformat(request.GET.get("day", ""))
    except ValueError:
        day = clock.today() - dt.timedelta(days=1)
    return {
        "day": day.isoformat(),
        "missing": delivery.undelivered_enti(request.db, day),
        "given_up": delivery.given_up(request.db),
    }


@view_config(route_name="ops.daily_file_link", request_method="GET")
def signed_link(request: Any) -> Any:
    """The download link of an e-mail: signed, expiring, no login (the link is the key)."""
    config = from_registry(request.registry)
    try:
        file_id = transports.read_link(config, request.matchdict["token"])
    except (signing.BadLink, KeyError, TypeError, ValueError):
        raise HTTPNotFound() from None
    file = request.db.get(DailyFile, file_id)
    if file is None or not Path(file.path).exists():
        raise HTTPNotFound()
    audit_action_link(request, file)
    return zip_response(request, file)


def audit_action_link(request: Any, file: DailyFile) -> None:
    from hub.tenants import audit

    audit.record(
        request.db,
        actor="link",
        action="ops.daily_file_link_download",
        target=f"daily_file:{file.id}",
        ente_id=file.ente_id,
        request_id=getattr(request, "request_id", None),
    )
