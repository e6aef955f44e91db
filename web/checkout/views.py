"""The citizen's pages: Ente -> payment type -> form or notice lookup -> cart -> Checkout ->
return page (state read from our database) -> receipt."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
import structlog
from pyramid.httpexceptions import HTTPFound, HTTPNotFound, HTTPSeeOther
from pyramid.response import Response
from pyramid.view import view_config

from hub import checkout, refunds
from hub.errors import (
    DomainError,
    OtherPlanInProgress,
    OtherPlanPaid,
    PaymentAlreadyPaid,
    PaymentCancelled,
    PaymentExpired,
    PaymentUnknown,
)
from hub.models import CheckoutCart, Ente, PaymentService, ServiceKind
from hub.values.notice_numbers import parse_notice_number
from web.checkout import forms
from web.checkout.handoff import CART_KEY, send_to_checkout
from web.checkout.i18n import LANGUAGES, _, localized
from web.checkout.receipt_pdf import render_receipt

log = structlog.get_logger(__name__)
T = "web.checkout:templates/"


# ------------------------------------------------------------------------------- helpers


def current_cart(request: Any, *, create: bool = False) -> CheckoutCart | None:
    """The session's open cart (a new one if asked and there is none)."""
    cart = checkout.get_cart(request.db, request.session.get(CART_KEY))
    if cart is not None and cart.status != "open":
        cart = None
    if cart is None and create:
        cart = checkout.new_cart(request.db, language=request.localizer.locale_name)
        request.session[CART_KEY] = cart.public_id
    return cart


def _ente(request: Any) -> Ente:
    ente = request.db.scalars(
        sa.select(Ente).where(Ente.fiscal_code == request.matchdict["ec"])
    ).one_or_none()
    if ente is None:
        raise HTTPNotFound()
    return ente


def _services(request: Any, ente: Ente) -> list[PaymentService]:
    return list(
        request.db.scalars(
            sa.select(PaymentService)
            .where(PaymentService.ente_id == ente.id, PaymentService.active.is_(True))
            .order_by(PaymentService.label)
        )
    )


def _flash(request: Any, message: Any) -> None:
    request.session.flash(request.localizer.translate(message))


def _cart_count(request: Any) -> int:
    cart = current_cart(request)
    return len(cart.items) if cart else 0


def _page(request: Any, **values: Any) -> dict[str, Any]:
    values.setdefault("cart_count", _cart_count(request))
    values.setdefault("messages", request.session.pop_flash())
    return values


LOOKUP_ERRORS = {
    PaymentUnknown: _(
        "We found no payable notice with this number for this body. Check the number on the notice."
    ),
    PaymentAlreadyPaid: _("This notice has already been paid."),
    PaymentCancelled: _("This notice was cancelled by the body: it cannot be paid."),
    PaymentExpired: _("This notice has expired: it can no longer be paid."),
    # plans are exclusive (hub.payments.plans)
    OtherPlanPaid: _(
        "This debt is already being paid another way (in full, or by instalments) and that "
        "payment is complete: this notice can no longer be paid."
    ),
    OtherPlanInProgress: _(
        "A payment of this debt by another plan (in full, or by instalments) is in progress: "
        "this notice cannot be paid at the same time. Try again in 30 minutes if that payment "
        "was not completed."
    ),
}
# why a cart could not be sent, by the error code of the notice that stopped it
SUBMIT_REASONS = {error.code: message for error, message in LOOKUP_ERRORS.items()}


# ------------------------------------------------------------------------------- catalogue


@view_config(route_name="checkout.home", renderer=T + "home.jinja2", decorator=localized)
def home(request: Any) -> dict[str, Any]:
    enti = list(request.db.scalars(sa.select(Ente).order_by(Ente.name)))
    return _page(request, enti=enti)


@view_config(route_name="checkout.ente", renderer=T + "ente.jinja2", decorator=localized)
def ente_page(request: Any) -> dict[str, Any]:
    ente = _ente(request)
    return _page(request, ente=ente, services=_services(request, ente), errors={}, values={})


# ------------------------------------------------------------------------------- lookup


def _limited(request: Any) -> bool:
    limiter = request.registry["checkout.lookup_limiter"]
    return not limiter.allow(request)


def _lookup(request: Any, ente: Ente) -> tuple[Any, dict[str, Any]]:
    """Add the posted notice number to the cart; (redirect or None, errors)."""
    if _limited(request):
        request.response.status = 429
        return None, {
            "notice_number": _("Too many searches in a short time: wait a minute and try again.")
        }
    raw = request.POST.get("notice_number", "").replace(" ", "").strip()
    try:
        notice = parse_notice_number(raw, verify_check_digits=False).value
    except DomainError:
        return None, {"notice_number": _("A notice number has 18 digits.")}
    cart = current_cart(request, create=True)
    assert cart is not None
    try:
        checkout.add_notice(request.db, cart, ente, notice)
    except tuple(LOOKUP_ERRORS) as exc:
        log.info("checkout.lookup_refused", ente=ente.fiscal_code, reason=exc.code)
        return None, {"notice_number": LOOKUP_ERRORS[type(exc)]}
    except checkout.CartError as exc:
        return None, {"notice_number": _cart_error(exc)}
    _flash(request, _("The notice was added to your cart."))
    return HTTPSeeOther(request.route_url("checkout.cart")), {}


def _cart_error(exc: checkout.CartError) -> Any:
    text = str(exc)
    if "already in the cart" in text:
        return _("This notice is already in your cart.")
    if "at most" in text:
        return _("Your cart is full: pay it first, then add more.")
    if exc.code == "other_plan_in_cart":
        return _(
            "Your cart already holds another way of paying this debt (in full, or by "
            "instalments): pay one plan only. Remove the other one first to change plan."
        )
    return _("This cart can no longer be changed.")


@view_config(
    route_name="checkout.notice",
    request_method="POST",
    require_csrf=True,
    renderer=T + "ente.jinja2",
    decorator=localized,
)
def notice_lookup(request: Any) -> Any:
    ente = _ente(request)
    redirect, errors = _lookup(request, ente)
    if redirect is not None:
        return redirect
    if request.response.status_code == 200:
        request.response.status = 422
    return _page(
        request,
        ente=ente,
        services=_services(request, ente),
        errors=errors,
        values={"notice_number": request.POST.get("notice_number", "")},
    )


# The language switch links to the page's own path with ?lang=; on a page that answered a form
# (a POST-only path) that path is asked with GET: send the citizen where that form lives, in the
# language asked for (issue 16).
_FORM_HOMES = {"checkout.notice": "checkout.ente", "checkout.remove": "checkout.cart"}
_FORM_HOMES["checkout.submit"] = "checkout.cart"


@view_config(route_name="checkout.notice", request_method="GET", decorator=localized)
@view_config(route_name="checkout.remove", request_method="GET", decorator=localized)
@view_config(route_name="checkout.submit", request_method="GET", decorator=localized)
def form_path_asked_with_get(request: Any) -> Any:
    home = _FORM_HOMES[request.matched_route.name]
    lang = request.GET.get("lang")
    query = {"lang": lang} if lang in LANGUAGES else {}
    return HTTPSeeOther(request.route_url(home, _query=query, **request.matchdict))


# ------------------------------------------------------------------------------- service form


def _service(request: Any, ente: Ente) -> PaymentService:
    service = request.db.scalars(
        sa.select(PaymentService).where(
            PaymentService.ente_id == ente.id,
            PaymentService.code == request.matchdict["code"],
            PaymentService.active.is_(True),
        )
    ).one_or_none()
    if service is None:
        raise HTTPNotFound()
    return service


@view_config(route_name="checkout.service", renderer=T + "service.jinja2", decorator=localized)
def service_page(request: Any) -> Any:
    ente = _ente(request)
    service = _service(request, ente)
    spec = forms.parse_spec(service.form)
    lookup = checkout.lookup_spec(service.form) if service.kind == ServiceKind.PRECOMPUTED else None
    keys = forms.lookup_fields(lookup.keys) if lookup else []
    values: dict[str, Any] = {}
    errors: dict[str, Any] = {}
    if request.method == "POST":
        from pyramid.csrf import check_csrf_token

        check_csrf_token(request)
        if service.kind == ServiceKind.PRECOMPUTED and keys and "notice_number" not in request.POST:
            redirect, values, errors = _ask_backoffice(request, service, keys)
            if redirect is not None:
                return redirect
        elif service.kind == ServiceKind.PRECOMPUTED:
            redirect, errors = _lookup(request, ente)
            if redirect is not None:
                return redirect
            values = {"notice_number": request.POST.get("notice_number", "")}
        else:
            filled = forms.validate(spec, request.POST)
            values, errors = {**filled.values, **filled.payer}, filled.errors
            values["amount"] = request.POST.get("amount", "")
            if not errors:
                added = _add_spontaneous(request, service, spec, filled)
                if added is not None:
                    return added
                errors = {"form": _("Your cart is full: pay it first, then add more.")}
        if request.response.status_code == 200:
            request.response.status = 422
    return _page(
        request,
        ente=ente,
        service=service,
        spec=spec,
        values=values,
        errors=errors,
        pick=forms.pick,
        precomputed=service.kind == ServiceKind.PRECOMPUTED,
        keys=keys,
    )


BACKOFFICE_NOT_FOUND = _(
    "We found no payment matching these details. Check them against "
    "the document you received (for a fine, the report)."
)
BACKOFFICE_DOWN = _(
    "The body's office that holds these payments is not answering right "
    "now: nothing was added to your cart. Please try again in a few minutes, "
    "or pay with the notice number if you have a pagoPA notice."
)


def _ask_backoffice(
    request: Any, service: PaymentService, keys: list[forms.Field]
) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Find the debt with the posted key fields at the Ente's back-office and put it in the
    cart; (redirect or None, values, errors)."""
    values, errors = forms.validate_fields(keys, request.POST)
    if errors:
        return None, values, errors
    if _limited(request):
        request.response.status = 429
        return (
            None,
            values,
            {"form": _("Too many searches in a short time: wait a minute and try again.")},
        )
    cart = current_cart(request, create=True)
    assert cart is not None
    try:
        checkout.add_from_backoffice(
            request.db, cart, service, {k: str(v) for k, v in values.items()}
        )
    except checkout.BackofficeNotFound:
        return None, values, {"form": BACKOFFICE_NOT_FOUND}
    except checkout.BackofficeUnavailable:
        request.response.status = 503
        return None, values, {"form": BACKOFFICE_DOWN}
    except tuple(LOOKUP_ERRORS) as exc:
        return None, values, {"form": LOOKUP_ERRORS[type(exc)]}
    except checkout.CartError as exc:
        return None, values, {"form": _cart_error(exc)}
    _flash(request, _("The payment was added to your cart."))
    return HTTPSeeOther(request.route_url("checkout.cart")), values, {}


def _add_spontaneous(
    request: Any, service: PaymentService, spec: forms.FormSpec, filled: forms.Filled
) -> Any:
    cart = current_cart(request, create=True)
    assert cart is not None and filled.amount_cents is not None
    payer = checkout.Payer(
        filled.payer["fiscal_code"], filled.payer["name"], filled.payer["email"] or None
    )
    try:
        checkout.add_spontaneous(
            request.db,
            cart,
            service,
            filled.amount_cents,
            payer,
            filled.values,
            description=spec.description,
        )
    except checkout.CartError:
        return None
    _flash(request, _("The payment was added to your cart."))
    return HTTPSeeOther(request.route_url("checkout.cart"))


# ------------------------------------------------------------------------------- cart


def _cart_view(request: Any, cart: CheckoutCart | None) -> dict[str, Any]:
    items = list(cart.items) if cart else []
    enti = (
        {
            e.id: e
            for e in request.db.scalars(
                sa.select(Ente).where(Ente.id.in_({i.ente_id for i in items}))
            )
        }
        if items
        else {}
    )
    return _page(
        request,
        cart=cart,
        items=items,
        enti=enti,
        total=checkout.total_cents(items),
        first=items[: checkout.MAX_NOTICES],
        rest=items[checkout.MAX_NOTICES :],
        max_notices=checkout.MAX_NOTICES,
        email=(cart.payer_email if cart else None) or _payer_email(items),
    )


def _payer_email(items: list[Any]) -> str:
    for item in items:
        if item.payer and item.payer.get("email"):
            return str(item.payer["email"])
    return ""


@view_config(route_name="checkout.cart", renderer=T + "cart.jinja2", decorator=localized)
def cart_page(request: Any) -> dict[str, Any]:
    return _cart_view(request, current_cart(request))


@view_config(
    route_name="checkout.remove", request_method="POST", require_csrf=True, decorator=localized
)
def cart_remove(request: Any) -> Any:
    cart = current_cart(request)
    if cart is not None:
        try:
            checkout.remove_item(request.db, cart, int(request.POST.get("item", "0")))
        except (ValueError, checkout.CartError):
            pass
        else:
            _flash(request, _("The payment was removed from your cart."))
    return HTTPSeeOther(request.route_url("checkout.cart"))


@view_config(
    route_name="checkout.submit",
    request_method="POST",
    require_csrf=True,
    renderer=T + "cart.jinja2",
    decorator=localized,
)
def cart_submit(request: Any) -> Any:
    cart = current_cart(request)
    if cart is None or not cart.items:
        return HTTPSeeOther(request.route_url("checkout.cart"))
    email = request.POST.get("email", "").strip()
    if email and not forms._EMAIL.match(email):
        request.response.status = 422
        return {
            **_cart_view(request, cart),
            "errors": {"email": _("Enter a valid e-mail address.")},
            "email": email,
        }
    try:
        return send_to_checkout(request, cart, email or None)
    except checkout.CheckoutError:
        message = _(
            "pagoPA is not answering right now: nothing was charged. "
            "Please try again in a few minutes."
        )
    except checkout.CartError as exc:
        log.info("checkout.cart_refused", cart=cart.public_id, reason=exc.code)
        why = SUBMIT_REASONS.get(exc.code)
        reason = f"{exc.item}: {request.localizer.translate(why)}" if why else str(exc)
        message = _(
            "A payment in your cart can no longer be paid: ${reason}", mapping={"reason": reason}
        )
    # nothing of this attempt (spontaneous positions, their outbox messages) is committed
    request.tm.doom()
    request.response.status = 409 if "${reason}" in str(message) else 502
    return {**_cart_view(request, cart), "errors": {"form": message}}


# ------------------------------------------------------------------------------- return


def _cart_by_id(request: Any) -> CheckoutCart:
    cart = checkout.get_cart(request.db, request.matchdict["cart"])
    if cart is None or cart.status == "open":
        raise HTTPNotFound()
    return cart


@view_config(route_name="checkout.return", renderer=T + "outcome.jinja2", decorator=localized)
@view_config(route_name="checkout.status", renderer=T + "outcome.jinja2", decorator=localized)
def outcome_page(request: Any) -> Any:
    """What happened, from our database: the return URL's own outcome is never trusted."""
    cart = _cart_by_id(request)
    hint = request.matchdict.get("hint")
    result = checkout.outcome(request.db, cart, hint=hint)
    if result.final:
        checkout.finish(cart, result)
        if cart.portal_id is not None:
            from web.level1.views import back_to_portal

            return back_to_portal(request, cart, result)
    if hint is not None and not result.final:
        # the address without the hint is the one that refreshes
        return HTTPFound(request.route_url("checkout.status", cart=cart.public_id))
    enti = {e.id: e for e in request.db.scalars(sa.select(Ente))}
    # money to give back (a double payment, ...): the citizen is told a refund is under way
    cases = refunds.open_refunds_for_options(
        request.db, [r.option.id for r in result.items if r.option is not None]
    )
    return _page(
        request,
        cart=cart,
        result=result,
        enti=enti,
        total=checkout.total_cents(cart.items),
        refresh=not result.final,
        refunds={c.option_id: c for c in cases},
    )


@view_config(route_name="checkout.receipt", decorator=localized)
def receipt_pdf(request: Any) -> Response:
    cart = _cart_by_id(request)
    result = checkout.outcome(request.db, cart)
    if not any(i.paid for i in result.items):
        raise HTTPNotFound()
    enti = {e.id: e for e in request.db.scalars(sa.select(Ente))}
    body = render_receipt(request.localizer, cart, result, enti)
    response = Response(body, content_type="application/pdf")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="ricevuta-{cart.public_id[:8]}.pdf"'
    )
    response.headers["Cache-Control"] = "no-store"
    return response
