"""An Ente's delivery targets for its daily files, checked before they are stored.

A target is SFTP (host, port, user, a password or a private key, the server's host key pinned),
FTPS (host, port, user, password; explicit TLS) or e-mail (recipients). It applies to every
service of the Ente, or to one (``service_code``); an Ente may have several at once. The host
must be one payhub may call (hub.http's outgoing policy: public addresses, or inside
``payhub.outgoing_allowed_networks``); it is checked again at every delivery (DNS changes).
Secrets are stored, never shown back (``describe`` leaves them out) and never logged.
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from pathlib import Path
from typing import Any

import asyncssh
import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub import clock, http, mail
from hub.config import Config
from hub.dailyfile import transports
from hub.dailyfile.transports import DeliveryError, host_key
from hub.errors import Conflict
from hub.models import DailyFileTarget, Ente

KINDS = ("sftp", "ftps", "email")
HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,253}[A-Za-z0-9])?$")
PORTS = {"sftp": 22, "ftps": 21}


class BadTarget(ValueError):
    """The target cannot be used; the message says which field and why (no secret in it).
    ``code`` names the reason for a translated message (web/ops), ``detail`` its variable part
    (an address, the policy's reason)."""

    def __init__(self, field: str, message: str, code: str | None = None, detail: str = "") -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.code = code or field
        self.detail = detail


# the columns' sizes (hub/models/dailyfiles.py): longer is refused here, not by the database
LIMITS = {"host": 255, "username": 100, "password": 500, "host_key": 2000, "directory": 255}
MAX_RECIPIENTS = 20


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
    given = {"host": host, "username": username, "password": password}
    given |= {"host_key": pinned_host_key, "directory": directory}
    for field, value in given.items():
        if value and len(value) > LIMITS[field]:
            raise BadTarget(field, f"at most {LIMITS[field]} characters", "too_long", field)
        if value and "\x00" in value:
            raise BadTarget(field, "a NUL character is not accepted", "nul", field)
    if private_key and (len(private_key) > 20_000 or "\x00" in private_key):
        raise BadTarget("private_key", "not an unencrypted private key")
    target = DailyFileTarget(ente_id=ente.id, kind=kind, service_code=service_code)
    if kind == "email":
        addresses = [a.strip() for a in recipients or [] if a.strip()]
        if not addresses:
            raise BadTarget("recipients", "give at least one address", "recipients_missing")
        if len(addresses) > MAX_RECIPIENTS:
            raise BadTarget("recipients", f"at most {MAX_RECIPIENTS} addresses", "recipients_many")
        for address in addresses:
            local, _, domain = address.partition("@")
            if (
                not local
                or "." not in domain
                or domain.startswith(".")
                or domain.endswith(".")
                or "@" in domain
                or len(address) > 254
                or any(c in address for c in ' \t\r\n\x00,;<>"()[]\\')
            ):
                raise BadTarget(
                    "recipients", f"{address!r} is not an e-mail address", "recipient", address
                )
        target.recipients = addresses
    else:
        if not host:
            raise BadTarget("host", "give a host name", "host_missing")
        if not username:
            raise BadTarget("username", "give a user name")
        if not HOST.match(host):
            raise BadTarget("host", "a host name or an IPv4 address", "host_invalid", host)
        port = port or PORTS[kind]
        if not 0 < port < 65536:
            raise BadTarget("port", "not a port")
        try:
            http.check_url(f"https://{host}:{port}/", policy, unresolvable_ok=True)
        except http.UrlRefused as exc:
            raise BadTarget("host", str(exc), "host_refused", str(exc)) from None
        if directory and (".." in directory.split("/") or any(c in directory for c in "\r\n")):
            raise BadTarget("directory", "a plain path, without ..")
        target.host, target.port, target.username = host, port, username
        target.directory = directory or None
        if kind == "sftp":
            if not pinned_host_key:
                raise BadTarget(
                    "host_key", "pin the server's host key (ssh-keyscan)", "host_key_missing"
                )
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
    """What pages, the API, the CLI and the audit show of a target: never its password nor its
    key (only which of the two it logs in with)."""
    return {
        "id": target.id,
        "kind": target.kind,
        "service_code": target.service_code,
        "where": target.where,
        "host": target.host,
        "port": target.port,
        "username": target.username,
        "directory": target.directory,
        "recipients": list(target.recipients or []),
        "authentication": "key" if target.private_key else ("password" if target.secret else None),
        "host_key": target.host_key,
        "enabled": target.enabled,
        "created_at": target.created_at,
    }


def audit_detail(target: DailyFileTarget) -> dict[str, Any]:
    """What an audit event records of a target (no secret)."""
    shown = describe(target)
    return {k: shown[k] for k in ("kind", "service_code", "where", "authentication")}


def targets_of(session: Session, ente_id: int) -> list[DailyFileTarget]:
    return list(
        session.scalars(
            sa.select(DailyFileTarget)
            .where(DailyFileTarget.ente_id == ente_id)
            .order_by(DailyFileTarget.id)
        )
    )


def find(session: Session, ente_id: int, target_id: int) -> DailyFileTarget | None:
    """The Ente's target ``target_id`` (None for another Ente's: not told apart)."""
    target = session.get(DailyFileTarget, target_id)
    return target if target is not None and target.ente_id == ente_id else None


def disable(session: Session, target: DailyFileTarget) -> None:
    if not target.enabled:
        raise Conflict("the target is already disabled", code="disabled")
    target.enabled = False


PROBE_TEXT = (
    "payhub: file di prova del flusso giornaliero; puo' essere cancellato.\n"
    "payhub: a test file of the daily file delivery; it may be deleted.\n"
)


def probe(
    target: DailyFileTarget,
    ente: Ente,
    config: Config,
    *,
    timeout: float = 20.0,
    policy: http.UrlPolicy | None = None,
) -> str:
    """Test ``target`` now: SFTP and FTPS upload a small text file
    ``payhub-probe-<UTC time>.txt`` the same way as a daily file (checked host, pinned key,
    temporary name then renamed); e-mail sends a short message to the recipients. Returns the
    probe's name; raises DeliveryError with a reason that holds no secret."""
    name = f"payhub-probe-{clock.now().astimezone(dt.UTC):%Y%m%dT%H%M%SZ}.txt"
    if target.kind == "email":
        try:
            mail.send(
                config,
                to=list(target.recipients or []),
                subject=f"Prova flusso giornaliero / Daily file test {ente.fiscal_code}",
                text=f"{ente.name}\n\n{PROBE_TEXT}",
                headers={"X-Payhub-Daily-File-Probe": name},
            )
        except (mail.MailError, ValueError) as exc:
            raise DeliveryError(f"e-mail: {str(exc).splitlines()[0][:200]}") from None
        return name
    content = PROBE_TEXT.encode()
    with tempfile.TemporaryDirectory(prefix="payhub-probe-") as folder:
        path = Path(folder) / name
        path.write_bytes(content)
        parcel = transports.Parcel(
            path=path,
            name=name,
            size=len(content),
            sha256="",
            file_id=0,
            ente_fiscal_code=ente.fiscal_code,
            ente_name=ente.name,
            service_code=target.service_code or "",
            business_date="",
            version=0,
        )
        transports.deliver(target, parcel, config, timeout=timeout, policy=policy)
    return name
