"""Pyramid web adapter: health, the REST API, notices, the citizen's pages and level 1."""

from __future__ import annotations

from typing import Any

from pyramid.httpexceptions import HTTPFound


def _to_catalogue(request: Any) -> HTTPFound:
    return HTTPFound(location=request.route_path("checkout.home"))


def includeme(config: Any) -> None:
    config.add_route("health", "/health")
    config.scan("web.health")
    config.include("web.metrics")  # /metrics, for the monitoring network only
    config.include("web.api", route_prefix="/api/v1")
    config.include("web.notices", route_prefix="/api/v1")  # after web.api: extends it
    # GPD-compatible API (issue 20): pagoPA's GPD paths on our archive
    config.include("web.gpd", route_prefix="/gpd/debt-positions-service")
    config.include("web.odp", route_prefix="/odp/v1")  # payment options (paVerifyPaymentOptions)
    config.include("web.checkout", route_prefix="/pay")
    config.include("web.level1")  # after web.checkout: its pages reuse the checkout's
    # after web.checkout too: its session carries the CSRF token, its catalogues and CSS serve
    config.include("web.ops", route_prefix="/ops")
    config.include("web.status")  # /status and the maintenance banner (issue 19)
    # the address people type: /pay and / lead to the catalogue at /pay/
    config.add_route("pay_bare", "/pay")
    config.add_view(_to_catalogue, route_name="pay_bare")
    config.add_route("root", "/")
    config.add_view(_to_catalogue, route_name="root")
