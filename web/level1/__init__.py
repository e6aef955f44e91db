"""Level-1 integration for Ente portals: the signed JSON API (``/level1/v1``) and the
browser's entry into payhub (``/pay/l1/{paymentId}``). See hub.level1 for the protocol."""

from __future__ import annotations

from typing import Any


def includeme(config: Any) -> None:
    config.add_route("level1.payments", "/level1/v1/payments")
    config.add_route("level1.payment", "/level1/v1/payments/{id}")
    config.add_route("level1.enter", "/pay/l1/{id}")
    config.add_route("level1.pay", "/pay/l1/{id}/checkout")
    config.scan("web.level1.views")
