"""GPD-compatible API: pagoPA's GPD debt-position operations (v1 and v3) on our archive.

Mounted at ``/gpd/debt-positions-service`` so that a back-office written for GPD only changes
its host: ``https://api.platform.pagopa.it/gpd/debt-positions-service/v1/...`` becomes
``https://<payhub>/gpd/debt-positions-service/v1/...``. Our API keys go in the
``Ocp-Apim-Subscription-Key`` header, as GPD's do. It is a face over hub.positions (the
writer, the same rules as /api/v1), not a second archive. See docs/integrators/gpd-api.md.
"""

from __future__ import annotations

from typing import Any

PREFIX = "/gpd/debt-positions-service"
ORG = "/organizations/{fiscal_code}"
# name: (pattern, methods); the methods are route predicates, so that "bulk" and "transfers"
# fall through to the IUPD routes for the other methods
ROUTES: dict[str, tuple[str, tuple[str, ...]]] = {
    "gpd.v1.info": ("/v1/info", ("GET",)),
    "gpd.v1.bulk": (f"/v1{ORG}/debtpositions/bulk", ("POST",)),
    "gpd.v1.transfers": (f"/v1{ORG}/debtpositions/transfers", ("PATCH",)),
    "gpd.v1.positions": (f"/v1{ORG}/debtpositions", ("GET", "POST")),
    "gpd.v1.position": (f"/v1{ORG}/debtpositions/{{iupd}}", ("GET", "PUT", "DELETE")),
    "gpd.v1.publish": (f"/v1{ORG}/debtpositions/{{iupd}}/publish", ("POST",)),
    "gpd.v1.invalidate": (f"/v1{ORG}/debtpositions/{{iupd}}/invalidate", ("POST",)),
    "gpd.v1.option": (f"/v1{ORG}/paymentoptions/{{iuv}}", ("GET",)),
    "gpd.v1.option_position": (f"/v1{ORG}/paymentoptions/{{iuv}}/debtposition", ("GET",)),
    "gpd.v1.notification_fee": (f"/v1{ORG}/paymentoptions/{{iuv}}/notificationfee", ("PUT",)),
    "gpd.v1.already_paid": (f"/v1{ORG}/paymentoptions/paids/{{nav}}", ("POST",)),
    "gpd.v3.positions": (f"/v3{ORG}/debtpositions", ("GET", "POST")),
    "gpd.v3.position": (f"/v3{ORG}/debtpositions/{{iupd}}", ("GET", "PUT", "DELETE")),
    "gpd.v3.publish": (f"/v3{ORG}/debtpositions/{{iupd}}/publish", ("POST",)),
}


def includeme(config: Any) -> None:
    """Include with ``route_prefix`` (web/__init__.py mounts it at PREFIX)."""
    for name, (pattern, methods) in ROUTES.items():
        if name in ("gpd.v1.bulk", "gpd.v1.transfers"):
            config.add_route(name, pattern, request_method=methods)
        else:
            config.add_route(name, pattern)
    from web.gpd.views import GpdError, error_view

    config.add_exception_view(error_view, context=GpdError)
    config.scan("web.gpd.views")
