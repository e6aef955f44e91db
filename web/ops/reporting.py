"""Reporting flows, bank credits and the statement upload of one Ente."""

from __future__ import annotations

from typing import Any

from pyramid.httpexceptions import HTTPNotFound, HTTPSeeOther
from pyramid.view import view_config

from hub import dashboard
from hub.config import from_registry
from hub.errors import DomainError, NotFound
from hub.reconciliation import statements
from web.checkout.i18n import _, localized
from web.ops.common import T, audit_action, flash
from web.ops.recon import credit_page
from web.ops.security import ente_of

DEFAULT_MAX_STATEMENT = 5 * 1024 * 1024


@view_config(route_name="ops.flows", renderer=T + "flows.jinja2", decorator=localized)
def flow_list(request: Any) -> dict[str, Any]:
    ente = ente_of(request)
    return {"ente": ente, "flows": dashboard.flows(request.db, ente.id)}


@view_config(route_name="ops.flow", renderer=T + "flow.jinja2", decorator=localized)
def flow_detail(request: Any) -> dict[str, Any]:
    ente = ente_of(request)
    try:
        flow = dashboard.find_flow(request.db, ente.id, int(request.matchdict["flow"]))
    except NotFound:
        raise HTTPNotFound() from None
    return {
        "ente": ente,
        "flow": flow,
        "entries": dashboard.flow_entries(request.db, flow),
        "credits": dashboard.flow_credits(request.db, flow),
    }


def _max_bytes(request: Any) -> int:
    return from_registry(request.registry).ops_statement_max_bytes


@view_config(route_name="ops.credits", renderer=T + "credits.jinja2", decorator=localized)
def credit_list(request: Any) -> dict[str, Any]:
    ente = ente_of(request)
    return {
        "ente": ente,
        "max_mb": round(_max_bytes(request) / 1024 / 1024, 1),
        **credit_page(request, ente),  # the filters (web.ops.recon) and the rows
    }


@view_config(
    route_name="ops.statement",
    request_method="POST",
    require_csrf=True,
    renderer=T + "credits.jinja2",
    decorator=localized,
)
def upload_statement(request: Any) -> Any:
    """Load a bank statement as ``payhub reconcile statement`` does; loading it twice adds
    nothing."""
    ente = ente_of(request)
    limit = _max_bytes(request)
    page = {"ente": ente, "credits": [], "max_mb": round(limit / 1024 / 1024, 1)}
    # a body far over the limit is refused before the form is parsed
    too_big = (request.content_length or 0) > limit + 64 * 1024
    upload = None if too_big else request.POST.get("statement")
    data = b""
    if hasattr(upload, "file"):
        with upload.file:
            data = upload.file.read(limit + 1)
    problem = None
    if too_big or len(data) > limit:
        request.response.status = 413
        problem = _("The file is larger than ${mb} MB.", mapping={"mb": page["max_mb"]})
    elif not data:
        request.response.status = 400
        problem = _("Choose a statement file (CSV or camt.053 XML).")
    if problem is None:
        name = (getattr(upload, "filename", "") or "statement").rsplit("/", 1)[-1][-200:]
        try:
            with request.db.begin_nested():
                outcome = statements.load_statement(
                    request.db, ente, data, source_file=f"ops:{name}"
                )
        except DomainError as exc:
            request.response.status = 400
            problem = _(
                "The statement could not be read: ${problem}", mapping={"problem": str(exc)}
            )
        else:
            audit_action(
                request,
                "ops.statement_upload",
                target=f"statement:{name}"[:100],
                ente_id=ente.id,
                detail={
                    "added": len(outcome.added),
                    "duplicates": outcome.duplicates,
                    "reconciled": outcome.reconciled,  # a count, not a payment state
                    "anomalies": sorted(set(outcome.anomalies)),
                },
            )
            flash(
                request,
                _(
                    "${added} credits added, ${duplicates} already loaded, "
                    "${reconciled} payments reconciled, ${anomalies} anomalies.",
                    mapping={
                        "added": len(outcome.added),
                        "duplicates": outcome.duplicates,
                        "reconciled": outcome.reconciled,  # not a payment state
                        "anomalies": len(outcome.anomalies),
                    },
                ),
            )
            return HTTPSeeOther(location=request.route_path("ops.credits", ec=ente.fiscal_code))
    page["credits"] = dashboard.bank_credits(request.db, ente.id)
    # translated here, with its ${mb} / ${problem} filled in (a bare TranslationString renders
    # its msgid)
    page["errors"] = {"statement": request.localizer.translate(problem) if problem else None}
    return page
