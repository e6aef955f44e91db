"""Level-1 integration for Ente portals: the signed JSON API (``/level1/v1``) and the
browser's entry into payhub (``/pay/l1/{paymentId}``). See hub.checkout.level1 for the protocol, and
hub.checkout.legacy_buffer for PayER's (weaker) "Buffer" protocol under ``/payer/cart/``."""

from __future__ import annotations

from typing import Any


def includeme(config: Any) -> None:
    config.add_route("level1.payments", "/level1/v1/payments")
    config.add_route("level1.payment", "/level1/v1/payments/{id}")
    config.add_route("level1.enter", "/pay/l1/{id}")
    config.add_route("level1.pay", "/pay/l1/{id}/checkout")
    # PayER's legacy "Buffer" protocol (hub.checkout.legacy_buffer), for portals with
    # legacy_buffer on
    config.add_route("legacy.rid", "/payer/cart/extS2SRID.do")
    config.add_route("legacy.cart", "/payer/cart/extCart.do")
    config.add_route("legacy.pid", "/payer/cart/extS2SPID.do")
    config.scan("web.level1.views")
