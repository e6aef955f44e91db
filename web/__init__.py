"""Pyramid web adapter: health, and later the REST API, checkout pages and dashboards."""

from __future__ import annotations

from typing import Any


def includeme(config: Any) -> None:
    config.add_route("health", "/health")
    config.scan("web.health")
    config.include("web.api", route_prefix="/api/v1")
    config.include("web.notices", route_prefix="/api/v1")  # after web.api: extends it
    config.include("web.checkout", route_prefix="/pay")
    config.include("web.level1")  # after web.checkout: its pages reuse the checkout's
