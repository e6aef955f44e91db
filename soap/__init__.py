"""SOAP adapter for the pagoPA Node (paForNode): wire format only, translating to hub/.

Settings (all optional):
  payhub.soap_path                    mount point (default /soap/paForNode)
  payhub.soap_public_url              address written in ?wsdl (default: the request URL)
  payhub.soap_max_body_bytes          larger requests get a SOAP Fault unread (default 262144)
  payhub.soap_station_cache_seconds   station configuration cache (default 30; 0 = off)
  payhub.soap_activation_ttl_seconds  how long a paGetPayment activation holds (default 1800)
  payhub.soap_allowed_networks        comma-separated CIDRs allowed to call (default: any)
  payhub.soap_auth_header             "Header-Name: secret" every call must carry (default: none)
"""

from __future__ import annotations

from typing import Any

ROUTE = "soap.paForNode"


def includeme(config: Any) -> None:
    """Mount the paForNode station."""
    from soap.dispatch import PaForNode, StationConfig, enabled, system_error_view

    settings = config.get_settings()
    if not enabled(settings):
        return
    endpoint = PaForNode(StationConfig.from_settings(settings))
    config.registry["soap.paForNode"] = endpoint
    config.add_route(ROUTE, settings.get("payhub.soap_path", "/soap/paForNode"))
    config.add_view(endpoint, route_name=ROUTE)
    config.add_view(system_error_view, context=Exception, route_name=ROUTE)
