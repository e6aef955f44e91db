"""Refund cases on the dashboard: the Ente's operators decide and carry out the refund,
support opens cases on a citizen's request, hands them over and tracks them all.

Operators see their Enti's cases only (another Ente's case is a 404); the payer's IBAN is
personal data: showing it is audited. Every step goes through hub.refunds (audited there and
sent to the Ente's back-office)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from pyramid.httpexceptions import HTTPNotFound, HTTPSeeOther
from pyramid.view import view_config

from hub import refunds
from hub.errors import DomainError, NotFound
from hub.models import AuditEvent, Ente, PaymentOption, Receipt
from hub.values.money import to_cents
from web.checkout.i18n import _, localized
from web.ops.common import T, actor, audit_personal_data, flash
from web.ops.security import account_of, require_support, visible_enti
from workflows.refund import RefundStatus, allowed_events

STEP_MESSAGES = {
    "submit": _("The case was handed to the body for its decision."),
    "approve": _("Refund approved."),
    "reject": _("Refund rejected."),
    "order": _("Bank transfer ordered."),
    "confirm": _("Refund confirmed as made."),
}
ERRORS = {
    "refund_role": _("Your role cannot take this step."),
    "refund_iban": _("The payer's IBAN is not valid: check it and try again."),
    "refund_amount": _(
        "The amount to refund must be more than zero and at most the amount collected."
    ),
    "refund_step": _(
        "This step is not possible now: the case moved on, or something it needs is missing "
        "(a reason for a rejection, the bank's reference for a refund made)."
    ),
    "refund_note": _("Write what the citizen asked for."),
}


def _case(request: Any) -> Any:
    try:
        case = refunds.find_case(request.db, request.matchdict["case"])
    except NotFound:
        raise HTTPNotFound() from None
    account = account_of(request)
    if not (account.is_support or any(e.id == case.ente_id for e in account.enti)):
        raise HTTPNotFound()
    return case


@view_config(route_name="ops.refunds", renderer=T + "refunds.jinja2", decorator=localized)
def refund_list(request: Any) -> dict[str, Any]:
    account = account_of(request)
    enti = {e.id: e for e in visible_enti(request)}
    status = request.GET.get("status", "")
    status = status if status in {s.value for s in RefundStatus} else ""
    cases = refunds.cases_for(
        request.db, None if account.is_support else list(enti), status=status or None
    )
    return {"cases": cases, "enti": enti, "status": status, "statuses": list(RefundStatus)}


@view_config(route_name="ops.refund", renderer=T + "refund.jinja2", decorator=localized)
def refund_page(request: Any) -> dict[str, Any]:
    case = _case(request)
    account = account_of(request)
    ente = request.db.get(Ente, case.ente_id)
    if case.payer_iban:
        audit_personal_data(
            request, ente, view="refund_case", target=f"refund_case:{case.public_id}"
        )
    steps = request.db.scalars(
        sa.select(AuditEvent)
        .where(
            AuditEvent.target == f"refund_case:{case.public_id}",
            AuditEvent.action.like("refund.%"),  # the steps, not who looked at the case
        )
        .order_by(AuditEvent.id)
    ).all()
    events = [
        e
        for e in allowed_events(case.status)
        if (account.is_support and (e == "submit" or (e == "reject" and case.status == "opened")))
        or (
            not account.is_support
            and not (e == "reject" and case.status == "opened")
            and e != "submit"
        )
    ]
    return {
        "case": case,
        "ente": ente,
        "option": request.db.get(PaymentOption, case.option_id) if case.option_id else None,
        "receipt": request.db.get(Receipt, case.receipt_pk) if case.receipt_pk else None,
        "steps": steps,
        "events": events,
    }


@view_config(
    route_name="ops.refund_step", request_method="POST", require_csrf=True, decorator=localized
)
def refund_step(request: Any) -> HTTPSeeOther:
    case = _case(request)
    account = account_of(request)
    event = request.POST.get("event", "")
    back = HTTPSeeOther(location=request.route_path("ops.refund", case=case.public_id))
    fields: dict[str, Any] = {
        "rejection_reason": request.POST.get("rejection_reason"),
        "payer_iban": request.POST.get("payer_iban"),
        "bank_reference": request.POST.get("bank_reference"),
    }
    amount = request.POST.get("amount", "").strip()
    try:
        if amount:
            fields["amount_cents"] = to_cents(amount.replace(",", "."))
        refunds.step(
            request.db, case, event, by=actor(request), as_support=account.is_support, **fields
        )
    except DomainError as exc:
        flash(request, ERRORS.get(exc.code, ERRORS["refund_step"]), "error")
        return back
    flash(request, STEP_MESSAGES.get(event, _("Done.")))
    return back


@view_config(
    route_name="ops.refund_new",
    renderer=T + "refund_new.jinja2",
    decorator=localized,
    require_csrf=True,  # checked on POST only
)
def refund_new(request: Any) -> Any:
    """Support opens a case on a citizen's request."""
    require_support(request)
    enti = list(request.db.scalars(sa.select(Ente).order_by(Ente.name)))
    values = {
        k: request.POST.get(k, "").strip() for k in ("ente", "notice_number", "amount", "note")
    }
    if request.method != "POST":
        return {"enti": enti, "values": values, "errors": {}}
    errors: dict[str, Any] = {}
    ente = next((e for e in enti if e.fiscal_code == values["ente"]), None)
    if ente is None:
        errors["ente"] = _("Choose the body the notice was paid to.")
    try:
        cents = to_cents(values["amount"].replace(",", "."))
    except DomainError:
        errors["amount"] = _("Enter the amount to refund in euro, e.g. 30,00.")
        cents = 0
    if not errors and ente is not None:
        try:
            case = refunds.open_on_request(
                request.db,
                ente,
                values["notice_number"].replace(" ", ""),
                amount_cents=cents,
                note=values["note"],
                by=actor(request),
            )
        except NotFound:
            errors["notice_number"] = _("No paid notice with this number for this body.")
        except DomainError as exc:
            key = "note" if exc.code == "refund_note" else "amount"
            errors[key] = ERRORS.get(exc.code, ERRORS["refund_step"])
        else:
            flash(request, _("Refund case opened."))
            return HTTPSeeOther(location=request.route_path("ops.refund", case=case.public_id))
    request.response.status = 422
    return {"enti": enti, "values": values, "errors": errors}
