"""Outgoing HTTPS: which certificate authorities we trust, in one place.

``payhub.outgoing_ca_bundle`` names a PEM file of private CAs (an Ente's back-office behind its
own CA, a regional network's proxy). They are trusted *in addition to* the public CAs that
``requests`` trusts (certifi), unless ``payhub.outgoing_ca_only = true``, which trusts the file
alone. Every outgoing call passes ``verify=hub.http.verify()``: webhook deliveries, pagoPA
Checkout, the back-office lookups, the Node client.

Where outgoing calls may go is decided here too (``UrlPolicy``, ``check_url``, ``post``).

``configure(settings)`` runs once per process (web app, worker, scheduler); ``verify_setting``
computes the value without keeping it (tests, clients built from settings).
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import socket
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import certifi
import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from hub.config import Config, as_config
from hub.settings import SettingsError

_verify: str | bool = True
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def verify_setting(settings: Config | Mapping[str, Any]) -> str | bool:
    """What to pass as ``requests``' ``verify=``: True (the public CAs) or a PEM file path."""
    config = as_config(settings)
    path = (config.outgoing_ca_bundle or "").strip()
    if not path:
        return True
    try:
        extra = Path(path).read_bytes()
    except OSError as exc:
        raise SettingsError(
            f"payhub.outgoing_ca_bundle: cannot read {path} ({exc.strerror or exc})"
        ) from None
    if b"-----BEGIN CERTIFICATE-----" not in extra:
        raise SettingsError(f"payhub.outgoing_ca_bundle: {path} holds no PEM certificate")
    if config.outgoing_ca_only:
        return path
    return _combined_bundle(Path(certifi.where()).read_bytes(), extra)


def _combined_bundle(public: bytes, extra: bytes) -> str:
    """A file holding the public CAs then the private ones, named by its content (so every
    process of a machine shares one, and a changed private bundle makes a new one)."""
    content = public.rstrip(b"\n") + b"\n\n# payhub.outgoing_ca_bundle\n" + extra
    digest = hashlib.sha256(content).hexdigest()[:16]
    target = Path(tempfile.gettempdir()) / f"payhub-ca-{digest}.pem"
    if not target.exists():
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".payhub-ca-")
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    return str(target)


def configure(settings: Any) -> str | bool:
    """Set this process's ``verify()`` and ``url_policy()`` from settings (refuses an
    unreadable bundle or a bad network)."""
    global _verify, _policy
    config = as_config(settings)
    _verify = verify_setting(config)
    _policy = UrlPolicy.from_settings(config)
    return _verify


def verify() -> str | bool:
    """``verify=`` for every outgoing ``requests`` call of this process."""
    return _verify


# ---------------------------------------------------------------------------------------------
# where outgoing calls may go: one policy for webhooks, back-office lookups and Checkout
#
# A URL given by an Ente (a webhook, a back-office lookup) must not make payhub call into its
# own network: the host is resolved, every address must be public (or inside
# ``payhub.outgoing_allowed_networks``, for the private targets a deployment really has), and
# the connection goes to the address that was checked (no second lookup a DNS rebinding could
# answer differently). Plain http only with ``payhub.webhook_allow_http`` (development).


class UrlRefused(ValueError):
    """The URL is not one payhub calls; the message says why, without the resolved addresses."""


@dataclass(frozen=True)
class UrlPolicy:
    allow_http: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_settings(cls, settings: Any) -> UrlPolicy:
        """From the typed settings object (hub.config), or a dict of .ini settings (tests)."""
        config = as_config(settings)
        raw = config.outgoing_allowed_networks or ""
        try:
            networks = tuple(
                ipaddress.ip_network(part.strip(), strict=False)
                for part in raw.replace(",", " ").split()
            )
        except ValueError as exc:
            raise SettingsError(f"payhub.outgoing_allowed_networks: {exc}") from None
        return cls(config.webhook_allow_http, networks)

    def allows(self, address: IPAddress) -> bool:
        """A public address, or one inside an allowed network."""
        if any(address in net for net in self.allowed_networks):
            return True
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            return self.allows(address.ipv4_mapped)
        return address.is_global and not (address.is_multicast or address.is_reserved)


@dataclass(frozen=True)
class Target:
    """A checked URL and the address the connection must use."""

    url: str
    host: str
    port: int
    address: str


def check_url(
    url: str,
    policy: UrlPolicy | None = None,
    *,
    resolve: Callable[[str, int], list[str]] | None = None,
    unresolvable_ok: bool = False,
) -> Target | None:
    """Check ``url`` against the policy (the process's by default) and return where to connect.

    Raises UrlRefused for another scheme, credentials in the URL, a bad port, a host written as
    a number in any form other than dotted quad (``2130706433``, ``0x7f.1``), or a host any of
    whose addresses is not allowed. A host that does not resolve is refused too, unless
    ``unresolvable_ok`` (at registration: the delivery checks again); then None is returned.
    """
    policy = policy or _policy
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UrlRefused("the URL or its port is not valid") from None
    schemes = ("https", "http") if policy.allow_http else ("https",)
    if parts.scheme not in schemes:
        raise UrlRefused("the URL must use https")
    host = parts.hostname or ""
    if not host or parts.username is not None or parts.password is not None:
        raise UrlRefused("give a host and no credentials")
    port = port or (443 if parts.scheme == "https" else 80)
    literal = _literal_address(host)
    if literal is not None:
        addresses = [literal]
    else:
        if not _HOSTNAME.match(host):
            raise UrlRefused("the host is not a valid name or address")
        try:
            addresses = [ipaddress.ip_address(a) for a in (resolve or _resolve)(host, port)]
        except (OSError, UnicodeError, ValueError):
            addresses = []
        if not addresses:
            if unresolvable_ok:
                return None
            raise UrlRefused("the host does not resolve")
    if not all(policy.allows(a) for a in addresses):
        raise UrlRefused("the host is not a public address")
    return Target(url, host, port, str(addresses[0]))


# dotted decimal labels of a name; a name all of digits and dots, or hex, is a number in disguise
_HOSTNAME = re.compile(r"^(?=.*[a-z-])(?!.*\.$)[a-z0-9-]{1,63}(\.[a-z0-9-]{1,63})*$", re.I)
_NUMERIC = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+))*\.?$", re.I)


def _literal_address(host: str) -> IPAddress | None:
    """The address a host written as an address names; UrlRefused for the other numeric
    forms (``2130706433``, ``0x7f.1``, ``017700000001``) that resolvers read as addresses."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _NUMERIC.match(host) or _NUMERIC.match(host.rstrip(".")):
        raise UrlRefused("write the host as a name or a dotted-quad address")
    return None


def _resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def url_policy() -> UrlPolicy:
    """This process's policy (``configure``)."""
    return _policy


def post(url: str, *, timeout: float, policy: UrlPolicy | None = None, **kwargs: Any) -> Any:
    """POST to ``url`` after ``check_url``, connecting to the checked address (TLS still
    verifies the host name), never following a redirect nor an environment proxy.
    Raises UrlRefused, or requests' exceptions; the caller closes the response."""
    target = check_url(url, policy)
    assert target is not None
    with requests.Session() as session:
        session.trust_env = False  # HTTPS_PROXY would connect elsewhere than the checked address
        adapter = _PinnedAdapter(target.address)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        kwargs.setdefault("verify", verify())
        return session.post(url, timeout=timeout, allow_redirects=False, **kwargs)


def connection_error(exc: BaseException) -> str:
    """What to record of a failed connection: the same words for a refused, filtered or
    timed-out port, so a stored error never maps a network."""
    if isinstance(exc, UrlRefused):
        return f"refused by the outgoing URL policy: {exc}"
    return "connection failed"


class _PinnedAdapter(HTTPAdapter):
    """Connects every request to one address, whatever the URL's host resolves to now."""

    def __init__(self, address: str) -> None:
        self._address = address
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        address = self._address

        class Http(HTTPConnection):
            def _new_conn(self) -> Any:
                return _connect_to(self, address, HTTPConnection)

        class Https(HTTPSConnection):
            def _new_conn(self) -> Any:
                return _connect_to(self, address, HTTPSConnection)

        class HttpPool(HTTPConnectionPool):
            ConnectionCls = Http

        class HttpsPool(HTTPSConnectionPool):
            ConnectionCls = Https

        self.poolmanager.pool_classes_by_scheme = {"http": HttpPool, "https": HttpsPool}


def _connect_to(conn: Any, address: str, base: type[HTTPConnection]) -> Any:
    """urllib3's own connect, to ``address`` instead of a fresh lookup of the host name (the
    name stays the Host header, the TLS server name and the name the certificate must match)."""
    name, conn._dns_host = conn._dns_host, address
    try:
        return base._new_conn(conn)
    finally:
        conn._dns_host = name


_policy = UrlPolicy()
