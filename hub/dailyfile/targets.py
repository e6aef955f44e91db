"""An Ente's delivery targets for its daily files, checked before they are stored.

A target is SFTP (host, port, user, a password or a private key, the server's host key pinned),
FTPS (host, port, user, password; explicit TLS) or e-mail (recipients). It applies to every
service of the Ente, or to one (``service_code``); an Ente may have several at once. The host
must be one payhub may call (hub.http's outgoing policy: public addresses, or inside
``payhub.outgoing_allowed_networks``); it is checked again at every delivery (DNS changes).
Secrets are stored, never shown back (``describe`` leaves them out) and never logged.
"""

from __future__ import annotations

from typing import Any

import asyncssh
from sqlalchemy.orm import Session

from hub import http
from hub.dailyfile.transports import host_key
from hub.errors import Conflict
from hub.models import DailyFileTarget, Ente

KINDS = ("sftp", "ftps", "email")
PORTS = {"sftp": 22, "ftps": 21}


class BadTarget(ValueError):
    """The target cannot be used; the message says which field and why (no secret in it)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def add_target(
    session: Session,
    ente: Ente,
    kind: str,
    *,
    service_code: str | None = None,
    host: str | None = None,
    port: int | None = None,
    username: str | None = None,
    password: str | None = None,
    private_key: str | None = None,
    pinned_host_key: str | None = None,
    directory: str | None = None,
    recipients: list[str] | None = None,
    policy: http.UrlPolicy | None = None,
) -> DailyFileTarget:
    """Check and store a target for ``ente``; BadTarget says what is wrong."""
    if kind not in KINDS:
        raise BadTarget("kind", f"one of {', '.join(KINDS)}")
    if service_code is not None and service_code not in {s.code for s in ente.services}:
        raise BadTarget("service_code", "not a service of this Ente")
    target = DailyFileTarget(ente_id=ente.id, kind=kind, service_code=service_code)
    if kind == "email":
        addresses = [a.strip() for a in recipients or [] if a.strip()]
        if not addresses:
            raise BadTarget("recipients", "give at least one address")
        for address in addresses:
            local, _, domain = address.partition("@")
            if not local or "." not in domain or any(c in address for c in " \r\n,;<>"):
                raise BadTarget("recipients", f"{address!r} is not an e-mail address")
        target.recipients = addresses
    else:
        if not host or not username:
            raise BadTarget("host", "give a host and a user name")
        port = port or PORTS[kind]
        if not 0 < port < 65536:
            raise BadTarget("port", "not a port")
        try:
            http.check_url(f"https://{host}:{port}/", policy, unresolvable_ok=True)
        except http.UrlRefused as exc:
            raise BadTarget("host", str(exc)) from None
        if directory and (".." in directory.split("/") or any(c in directory for c in "\r\n")):
            raise BadTarget("directory", "a plain path, without ..")
        target.host, target.port, target.username = host, port, username
        target.directory = directory or None
        if kind == "sftp":
            if not pinned_host_key:
                raise BadTarget("host_key", "pin the server's host key (ssh-keyscan)")
            try:
                host_key(pinned_host_key)
            except ValueError as exc:
                raise BadTarget("host_key", str(exc)) from None
            target.host_key = pinned_host_key.strip()
            if private_key:
                try:
                    asyncssh.import_private_key(private_key)
                except (asyncssh.KeyImportError, ValueError):
                    raise BadTarget("private_key", "not an unencrypted private key") from None
                target.private_key = private_key
        if not password and not target.private_key:
            raise BadTarget("password", "give a password" + (" or a key" if kind == "sftp" else ""))
        target.secret = password or None
    session.add(target)
    session.flush()
    return target


def describe(target: DailyFileTarget) -> dict[str, Any]:
    """What pages and the API show of a target: never its password nor its key."""
    return {
        "id": target.id,
        "kind": target.kind,
        "service_code": target.service_code,
        "where": target.where,
        "authentication": "key" if target.private_key else ("password" if target.secret else None),
        "host_key": target.host_key,
        "enabled": target.enabled,
    }


def disable(session: Session, target: DailyFileTarget) -> None:
    if not target.enabled:
        raise Conflict("the target is already disabled", code="disabled")
    target.enabled = False
