"""Level-1 views: portals start payments and read outcomes (signed JSON); browsers enter
payhub with the payment URL and come back to the portal with a signed outcome token."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import structlog
from pyramid.httpexceptions import HTTPNotFound, HTTPSeeOther
from pyramid.response import Response
from pyramid.view import view_config

from hub import checkout
from hub.checkout import legacy_buffer, level1
from hub.errors import NotFound
from hub.models import CheckoutCart, Ente
from web.api.inputs import nul_path
from web.checkout.handoff import send_to_checkout
from web.checkout.i18n import _, localized

log = structlog.get_logger(__name__)


def _problem(request: Any, status: int, code: str, detail: str) -> dict[str, Any]:
    request.response.status = status
    request.response.content_type = "application/problem+json"
    return {"type": f"about:blank#{code}", "title": code, "status": status, "detail": detail}


def _authenticated(request: Any) -> Any:
    try:
        return level1.authenticate(
            request.db, request.headers, request.method, request.path, request.body
        )
    except level1.Level1AuthError as exc:
        log.info("level1.refused", reason=exc.code)
        return exc


@view_config(route_name="level1.payments", request_method="POST", renderer="json")
def start_payment(request: Any) -> dict[str, Any]:
    portal = _authenticated(request)
    if isinstance(portal, level1.Level1AuthError):
        return _problem(request, 401, portal.code, str(portal))
    try:
        body = json.loads(request.body or b"null")
        where = nul_path(body)
        if where:
            return _problem(
                request, 422, "invalid_request", f"{where}: NUL characters are not accepted"
            )
        # a refused request leaves no half-built cart behind (the nonce stays used)
        with request.db.begin_nested():
            cart, created = level1.start_payment(request.db, portal, body)
    except ValueError:
        return _problem(request, 400, "invalid_json", "the body is not JSON")
    except level1.InvalidRequest as exc:
        return _problem(request, 422, exc.code, str(exc))
    request.response.status = 201 if created else 200
    return {
        "paymentId": cart.public_id,
        "externalId": cart.external_id,
        "paymentUrl": request.route_url("level1.enter", id=cart.public_id),
        "status": checkout.outcome(request.db, cart).status,
    }


@view_config(route_name="level1.payment", request_method="GET", renderer="json")
def payment_status(request: Any) -> dict[str, Any]:
    portal = _authenticated(request)
    if isinstance(portal, level1.Level1AuthError):
        return _problem(request, 401, portal.code, str(portal))
    try:
        cart = level1.find_cart(request.db, portal, request.matchdict["id"])
    except NotFound as exc:
        return _problem(request, 404, exc.code, str(exc))
    level1.notify_if_final(request.db, cart)
    return level1.payment_status(request.db, cart)


# --- the browser ------------------------------------------------------------------------------


def _portal_cart(request: Any) -> CheckoutCart:
    cart = checkout.get_cart(request.db, request.matchdict["id"])
    if cart is None or cart.portal_id is None:
        raise HTTPNotFound()
    return cart


@view_config(
    route_name="level1.enter", renderer="web.level1:templates/confirm.jinja2", decorator=localized
)
def enter(request: Any) -> Any:
    """The payment URL: the portal's items, to confirm (mode cart) or straight to Checkout
    (mode direct). Once submitted, the same URL leads to the outcome."""
    cart = _portal_cart(request)
    if cart.status != "open":
        return HTTPSeeOther(request.route_url("checkout.status", cart=cart.public_id))
    if cart.direct:
        return _go(request, cart)
    return _confirm_page(request, cart)


@view_config(
    route_name="level1.pay",
    request_method="POST",
    require_csrf=True,
    renderer="web.level1:templates/confirm.jinja2",
    decorator=localized,
)
def pay(request: Any) -> Any:
    cart = _portal_cart(request)
    if cart.status != "open":
        return HTTPSeeOther(request.route_url("checkout.status", cart=cart.public_id))
    return _go(request, cart)


def _go(request: Any, cart: CheckoutCart) -> Any:
    try:
        return send_to_checkout(request, cart, None)
    except (checkout.CheckoutError, checkout.CartError):
        request.tm.doom()
        request.response.status = 502
        return _confirm_page(
            request,
            cart,
            errors={
                "form": _(
                    "pagoPA is not answering right now: nothing was "
                    "charged. Please try again in a few minutes."
                )
            },
        )


def _confirm_page(request: Any, cart: CheckoutCart, **extra: Any) -> dict[str, Any]:
    """confirm.jinja2's values: the portal's cart to confirm (and ``extra``, e.g. errors)."""
    return {
        "cart": cart,
        "items": cart.items,
        "enti": {e.id: e for e in request.db.query(Ente)},
        "portal": cart.portal,
        "total": checkout.total_cents(cart.items),
        "cart_count": 0,
        "messages": [],
        **extra,
    }


def back_to_portal(request: Any, cart: CheckoutCart, result: checkout.CartOutcome) -> Any:
    """The end of a level-1 payment: back to the portal with a signed, expiring outcome."""
    portal = cart.portal
    assert portal is not None and cart.return_url
    level1.notify_if_final(request.db, cart)
    glue = "&" if "?" in cart.return_url else "?"
    if portal.legacy_buffer:
        return HTTPSeeOther(
            cart.return_url
            + glue
            + urlencode({"buffer": legacy_buffer.return_buffer(portal, cart)})
        )
    token = level1.outcome_token(portal, cart, result.status)
    return HTTPSeeOther(cart.return_url + glue + urlencode({"outcome": token}))


# --- PayER's legacy "Buffer" protocol (weaker: MD5, no nonce; see hub.checkout.legacy_buffer)


def _xml(body: str, status: int = 200) -> Response:
    return Response(body, status=status, content_type="text/xml", charset="utf-8")


def _refused(exc: Exception, status: int) -> Response:
    code = getattr(exc, "code", "bad_request")
    log.info("legacy_buffer.refused", reason=code)
    return Response(f"{code}: {exc}", status=status, content_type="text/plain", charset="utf-8")


@view_config(route_name="legacy.rid", request_method="POST")
def legacy_rid(request: Any) -> Response:
    """A portal's PaymentRequest (form field ``buffer``) -> Buffer(<RID>)."""
    try:
        portal, xml = legacy_buffer.open_buffer(request.db, request.POST.get("buffer", ""))
    except legacy_buffer.BufferError as exc:
        return _refused(exc, 401)
    try:
        with request.db.begin_nested():
            _cart, rid = legacy_buffer.start(request.db, portal, xml)
    except (level1.InvalidRequest, legacy_buffer.BufferError) as exc:
        return _refused(exc, 422)
    return _xml(legacy_buffer.answer(portal, rid))


@view_config(route_name="legacy.cart", request_method="GET")
def legacy_cart(request: Any) -> Any:
    """The browser with ``?buffer=Buffer(<RID>)`` -> payhub's level-1 page for it."""
    try:
        portal, xml = legacy_buffer.open_buffer(request.db, request.GET.get("buffer", ""))
        cart = legacy_buffer.cart_of(request.db, portal, xml, "RID")
    except legacy_buffer.BufferError as exc:
        return _refused(exc, 401 if exc.code != "unknown_payment" else 404)
    return HTTPSeeOther(request.route_url("level1.enter", id=cart.public_id))


@view_config(route_name="legacy.pid", request_method="POST")
def legacy_pid(request: Any) -> Response:
    """Buffer(<PID>) -> Buffer(<PaymentData>)."""
    try:
        portal, xml = legacy_buffer.open_buffer(request.db, request.POST.get("buffer", ""))
        cart = legacy_buffer.cart_of(request.db, portal, xml, "PID")
    except legacy_buffer.BufferError as exc:
        return _refused(exc, 401 if exc.code != "unknown_payment" else 404)
    level1.notify_if_final(request.db, cart)
    return _xml(legacy_buffer.answer(portal, legacy_buffer.payment_data(request.db, portal, cart)))
