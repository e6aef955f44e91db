"""SOAP adapter for the pagoPA Node (paForNode): wire format only, translating to hub/.

Settings (all optional):
  payhub.soap_path                    mount point (default /soap/paForNode)
  payhub.soap_public_url              address written in ?wsdl (default: the request URL)
  payhub.soap_max_body_bytes          larger requests get a SOAP Fault unread (default 262144)
  payhub.soap_station_cache_seconds   station configuration cache (default 30; 0 = off)
  payhub.soap_activation_ttl_seconds  how long a paGetPayment activation holds (default 1800)

What protects the station (at least one is required outside the embedded default, which is the
in-process stub broker of ``make demo``; the application refuses to start otherwise):
  payhub.soap_allowed_networks        comma-separated CIDRs allowed to call
  payhub.soap_auth_header             "Header-Name: secret" every call must carry
  payhub.soap_behind_mtls_proxy       true: a proxy in front checks the Node's client
                                      certificate and sends payhub.soap_mtls_verify_header
                                      (default X-SSL-Client-Verify) = SUCCESS
  payhub.soap_open_station            true: knowingly open (a test station only)
pagoPA's Stand-In probe is answered before the caller check (soap.standin).
"""

from __future__ import annotations

from typing import Any

ROUTE = "soap.paForNode"


def includeme(config: Any) -> None:
    """Mount the paForNode station."""
    from hub.config import from_registry
    from soap.dispatch import PaForNode, StationConfig, enabled, system_error_view

    settings = from_registry(config.registry)
    if not enabled(settings):
        return
    endpoint = PaForNode(StationConfig.from_settings(settings))
    config.registry["soap.paForNode"] = endpoint
    config.add_route(ROUTE, settings.soap_path)
    config.add_view(endpoint, route_name=ROUTE)
    config.add_view(system_error_view, context=Exception, route_name=ROUTE)
