"""Handing a cart over to pagoPA Checkout: shared by the citizen pages and level 1."""

from __future__ import annotations

from typing import Any

from pyramid.httpexceptions import HTTPSeeOther

from hub import checkout
from hub.models import CheckoutCart

CART_KEY = "cart"  # the session's open cart


def return_urls(request: Any, cart: CheckoutCart) -> tuple[str, str, str]:
    return tuple(
        request.route_url("checkout.return", cart=cart.public_id, hint=hint)
        for hint in ("ok", "cancel", "error")
    )  # type: ignore[return-value]


def send_to_checkout(request: Any, cart: CheckoutCart, email: str | None) -> Any:
    """Open the Checkout cart and redirect the browser there; the left-over items (beyond
    five) become the session's open cart."""
    submitted = checkout.submit(
        request.db,
        cart,
        request.registry["checkout.client"],
        return_urls(request, cart),
        email=email,
    )
    if submitted.left_over is not None:
        request.session[CART_KEY] = submitted.left_over.public_id
    elif request.session.get(CART_KEY) == cart.public_id:
        del request.session[CART_KEY]
    return HTTPSeeOther(submitted.url)
