"""Who the client is: the one place that reads ``X-Forwarded-For``.

``address_of(request)`` is the peer's address (``REMOTE_ADDR``), unless the peer is one of
``payhub.trusted_proxies`` (CIDRs, comma- or space-separated; empty by default): then the
``X-Forwarded-For`` list is read from the right, each trusted hop skipped, and the first address
that is not a trusted proxy is the client. Anything a client wrote to the left of that (a forged
``X-Forwarded-For: 1.2.3.4`` passed on by the proxy) is never believed; a header sent straight
to payhub, by a peer that is no trusted proxy, is ignored altogether. WebOb's ``client_addr``
believes the header from anyone and is not used.

Every rate limit (``hub.ratelimit``: back-office lookups, /ops/ logins) and every audit of an
address uses ``address_of(request)``. The process's one limiter lives in the registry too
(``limiter(request)``, built on first use).
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterable
from typing import Any

from hub.config import from_registry
from hub.ratelimit import Limiter

LIMITER_KEY = "ratelimit.limiter"
PROXIES_KEY = "clientaddr.trusted_proxies"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    """``"10.0.0.0/8, 192.0.2.7"`` -> networks; a bad entry stops the start (ValueError)."""
    return tuple(
        ipaddress.ip_network(part.strip(), strict=False)
        for part in text.replace(",", " ").split()
        if part.strip()
    )


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def client_address(
    remote_addr: str | None, forwarded_for: str | None, proxies: Iterable[Network]
) -> str:
    """The client's address, as explained above ("unknown" when the peer has none)."""
    proxies = tuple(proxies)
    peer = _address(remote_addr or "")
    if peer is None:
        return "unknown"

    def trusted(address: Any) -> bool:
        return any(address.version == net.version and address in net for net in proxies)

    if not proxies or not trusted(peer) or not forwarded_for:
        return str(peer)
    client = peer
    for hop in reversed(forwarded_for.split(",")):
        address = _address(hop)
        if address is None:  # garbage in the chain: stop at the last address we could trust
            break
        client = address
        if not trusted(address):
            break
    return str(client)


def _proxies(registry: Any) -> tuple[Network, ...]:
    proxies = registry.get(PROXIES_KEY)
    if proxies is None:
        proxies = registry[PROXIES_KEY] = parse_networks(from_registry(registry).trusted_proxies)
    return proxies


def address_of(request: Any) -> str:
    """The request's client address (what every limit and audit uses)."""
    return client_address(
        request.environ.get("REMOTE_ADDR"),
        request.headers.get("X-Forwarded-For"),
        _proxies(request.registry),
    )


_LOCK = threading.Lock()


def limiter_of(registry: Any) -> Limiter:
    """The process's one limiter, built on first use from the registry's settings."""
    with _LOCK:
        found = registry.get(LIMITER_KEY)
        if found is None:
            found = registry[LIMITER_KEY] = Limiter.from_config(from_registry(registry))
        return found


def limiter(request: Any) -> Limiter:
    return limiter_of(request.registry)
