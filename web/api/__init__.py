"""REST API for Ente back-offices under ``/api/v1``: debt positions, receipts and
reconciliation (reporting flows, bank credits, anomalies), with API keys,
RFC 9457 problems and an OpenAPI 3.1 document (``/api/v1/openapi.json``, ``/api/v1/docs``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyramid.httpexceptions import HTTPMethodNotAllowed

from web.api.problems import include_views

PREFIX = "/api/v1"
# path parameters that do not match their pattern answer 404, as the document says
EC = r"{fiscal_code:[0-9]{11}}"
IUPD = r"{iupd:[A-Za-z0-9][A-Za-z0-9._-]{0,63}}"
NOTICE = r"{notice_number:[0-9]{18}}"
RECEIPT = r"{receipt_id:[A-Za-z0-9._-]{1,35}}"
FLOW = r"{flow_id:[A-Za-z0-9._-]{1,35}}"
ROUTES = {
    # name: (pattern, methods)
    "api.openapi": ("/openapi.json", ("GET",)),
    "api.docs": ("/docs", ("GET",)),
    "api.operations": ("/docs/operations", ("GET",)),
    "api.docs_init": ("/docs/init.js", ("GET",)),
    "api.positions": (f"/enti/{EC}/debt-positions", ("GET", "POST")),
    "api.position": (f"/enti/{EC}/debt-positions/{IUPD}", ("GET", "PUT", "PATCH")),
    "api.position_publish": (f"/enti/{EC}/debt-positions/{IUPD}/publish", ("POST",)),
    "api.position_cancel": (f"/enti/{EC}/debt-positions/{IUPD}/cancel", ("POST",)),
    "api.notice": (f"/enti/{EC}/notices/{NOTICE}", ("GET",)),
    "api.notice_receipts": (f"/enti/{EC}/notices/{NOTICE}/receipts", ("GET",)),
    "api.receipts": (f"/enti/{EC}/receipts", ("GET",)),
    "api.receipt": (f"/enti/{EC}/receipts/{RECEIPT}", ("GET",)),
    "api.receipt_xml": (f"/enti/{EC}/receipts/{RECEIPT}/xml", ("GET",)),
    "api.reporting_flows": (f"/enti/{EC}/reporting-flows", ("GET",)),
    "api.reporting_flow": (f"/enti/{EC}/reporting-flows/{FLOW}", ("GET",)),
    "api.reporting_flow_xml": (f"/enti/{EC}/reporting-flows/{FLOW}/xml", ("GET",)),
    "api.reporting_flow_csv": (f"/enti/{EC}/reporting-flows/{FLOW}/csv", ("GET",)),
    "api.bank_credits": (f"/enti/{EC}/bank-credits", ("GET",)),
    "api.anomalies": (f"/enti/{EC}/anomalies", ("GET",)),
}


def _not_allowed(methods: tuple[str, ...]) -> Any:
    def view(request: Any) -> Any:
        raise HTTPMethodNotAllowed(headers={"Allow": ", ".join(methods)})

    return view


def add_routes(config: Any, routes: Mapping[str, tuple[str, tuple[str, ...]]]) -> None:
    """Add each route of ``routes`` (name: (pattern, methods)), with the package's 405 view:
    views with a request_method win; this one answers every other method with 405. The API's
    modules call it from their own ``includeme`` for their own ``ROUTES``."""
    for name, (pattern, methods) in routes.items():
        config.add_route(name, pattern)
        config.add_view(_not_allowed(methods), route_name=name)


def includeme(config: Any) -> None:
    """Include with ``route_prefix`` (web/__init__.py mounts it at /api/v1)."""
    prefix = (config.route_prefix and f"/{config.route_prefix.strip('/')}") or PREFIX
    config.registry["api.prefix"] = prefix
    add_routes(config, ROUTES)
    # Swagger UI 5 (OpenAPI 3.1) from the swagger-ui-bundle-v2 wheel: served here, no CDN
    from swagger_ui_bundle import swagger_ui_path

    config.add_static_view("docs/assets", str(swagger_ui_path), cache_max_age=3600)
    config.include("web.api.webhooks")
    config.include("web.api.bulk")
    config.include("web.api.activation")  # issue 15: activation requests
    config.include("web.api.dailyfiles")  # issue 18: the daily files
    config.include("web.api.dailyfile_targets")  # the daily files' delivery targets
    config.include("web.api.admin")  # administration (issue 15): /admin/...
    include_views(config, prefix)
    config.scan("web.api")
