"""Putting a daily file where an Ente wants it: SFTP, FTPS (explicit TLS) or e-mail.

Every transport first checks the host against the outgoing policy (hub.http: public addresses
only, unless inside ``payhub.outgoing_allowed_networks``) and connects to the address checked.
A file is uploaded under a temporary name and renamed once complete, and a file already there
under its final name (which carries the zip's SHA-256) is not sent again: a delivery retried
after a crash mid-transfer leaves exactly one file at the receiver.

SFTP (asyncssh) logs in with a password or a private key, and only to a server whose host key
is the one pinned in the target. FTPS (ftplib) speaks explicit TLS (AUTH TLS, PROT P), the
certificate checked like every outgoing TLS connection (hub.http.verify_setting).

Errors are :class:`DeliveryError` with a one-line reason that never holds a secret.
"""

from __future__ import annotations

import asyncio
import ftplib
import posixpath
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh

from hub import http, mail, signing
from hub.config import Config
from hub.models import DailyFileTarget

LINK_PURPOSE = "daily-file"


class DeliveryError(RuntimeError):
    """The file did not reach the target (retry later); the message is safe to record."""


@dataclass(frozen=True)
class Parcel:
    """What is delivered: the zip on disk, its name at the receiver, and its identity."""

    path: Path
    name: str
    size: int
    sha256: str
    file_id: int
    ente_fiscal_code: str
    ente_name: str
    service_code: str
    business_date: str
    version: int
    test: bool = False  # a test file (hub.dailyfile.files): the e-mail's subject says so


def checked_address(host: str, port: int, policy: http.UrlPolicy | None = None) -> str:
    """The address to connect to, after the outgoing policy (hub.http.check_url) allowed it."""
    try:
        target = http.check_url(f"https://{host}:{port}/", policy)
    except http.UrlRefused as exc:
        raise DeliveryError(f"refused by the outgoing policy: {exc}") from None
    assert target is not None
    return target.address


def deliver(
    target: DailyFileTarget,
    parcel: Parcel,
    config: Config,
    *,
    timeout: float,
    policy: http.UrlPolicy | None = None,
) -> str:
    """Deliver ``parcel`` to ``target``; returns what was done ("uploaded", "already there",
    "attached", "linked"). Raises DeliveryError."""
    if target.kind == "sftp":
        return sftp_put(target, parcel, timeout=timeout, policy=policy)
    if target.kind == "ftps":
        return ftps_put(target, parcel, config, timeout=timeout, policy=policy)
    if target.kind == "email":
        return email(target, parcel, config)
    raise DeliveryError(f"unknown target kind {target.kind!r}")


# --- SFTP ------------------------------------------------------------------------------------


def sftp_put(
    target: DailyFileTarget,
    parcel: Parcel,
    *,
    timeout: float,
    policy: http.UrlPolicy | None = None,
) -> str:
    address = checked_address(target.host or "", target.port or 22, policy)
    try:
        return asyncio.run(asyncio.wait_for(_sftp(target, address, parcel), timeout))
    except DeliveryError:
        raise
    except TimeoutError:
        raise DeliveryError("SFTP: timed out") from None
    except asyncssh.HostKeyNotVerifiable:
        raise DeliveryError("SFTP: the server's host key is not the one pinned") from None
    except asyncssh.PermissionDenied:
        raise DeliveryError("SFTP: login refused") from None
    except asyncssh.SFTPError as exc:
        raise DeliveryError(f"SFTP: {type(exc).__name__}: {exc.reason}"[:200]) from None
    except (OSError, asyncssh.Error) as exc:
        raise DeliveryError(f"SFTP: {type(exc).__name__}") from None


def host_key(text: str) -> asyncssh.SSHKey:
    """A pinned host key (OpenSSH one-line public key); ValueError if it is not one."""
    try:
        return asyncssh.import_public_key(text.strip())
    except (asyncssh.KeyImportError, ValueError):
        raise ValueError("not an OpenSSH public key (ssh-ed25519 AAAA...)") from None


async def _sftp(target: DailyFileTarget, address: str, parcel: Parcel) -> str:
    if not target.host_key:
        raise DeliveryError("SFTP: no host key pinned for this target")
    options: dict[str, Any] = {
        "username": target.username,
        "known_hosts": ([host_key(target.host_key)], [], []),
        "agent_path": None,
        "config": None,
        "client_keys": None,
        "password": None,
    }
    if target.private_key:
        options["client_keys"] = [asyncssh.import_private_key(target.private_key)]
    if target.secret:
        options["password"] = target.secret
    async with (
        asyncssh.connect(address, target.port or 22, **options) as conn,
        conn.start_sftp_client() as sftp,
    ):
        folder = target.directory or "."
        final = posixpath.join(folder, parcel.name)
        if await sftp.exists(final) and (await sftp.stat(final)).size == parcel.size:
            return "already there"
        partial = posixpath.join(folder, f".{parcel.name}.part")
        await sftp.put(str(parcel.path), partial)
        if await sftp.exists(final):
            await sftp.remove(final)
        await sftp.rename(partial, final)
    return "uploaded"


# --- FTPS ------------------------------------------------------------------------------------


class _PinnedFTPS(ftplib.FTP_TLS):
    """FTP_TLS connected to the checked address; the host name stays the name TLS checks."""

    def connect_to(self, name: str, address: str, port: int, timeout: float) -> None:
        self.connect(address, port, timeout=timeout)
        self.host = name  # the certificate must match the name the Ente gave


def ftps_put(
    target: DailyFileTarget,
    parcel: Parcel,
    config: Config,
    *,
    timeout: float,
    policy: http.UrlPolicy | None = None,
) -> str:
    host, port = target.host or "", target.port or 21
    address = checked_address(host, port, policy)
    context = _tls_context(config)
    ftp = _PinnedFTPS(context=context)
    try:
        ftp.connect_to(host, address, port, timeout)
        ftp.auth()
        ftp.login(target.username or "anonymous", target.secret or "")
        ftp.prot_p()
        if target.directory:
            ftp.cwd(target.directory)
        if _ftp_size(ftp, parcel.name) == parcel.size:
            return "already there"
        partial = f".{parcel.name}.part"
        with open(parcel.path, "rb") as fh:
            ftp.storbinary(f"STOR {partial}", fh)
        ftp.rename(partial, parcel.name)
        ftp.quit()
    except ftplib.error_perm as exc:
        raise DeliveryError(f"FTPS: refused: {str(exc)[:3]}") from None
    except (ftplib.Error, OSError, ssl.SSLError, EOFError) as exc:
        raise DeliveryError(f"FTPS: {type(exc).__name__}") from None
    finally:
        ftp.close()
    return "uploaded"


def _ftp_size(ftp: ftplib.FTP, name: str) -> int | None:
    try:
        ftp.voidcmd("TYPE I")
        return ftp.size(name)
    except ftplib.error_perm:  # 550: not there
        return None


def _tls_context(config: Config) -> ssl.SSLContext:
    verify = http.verify_setting(config)
    if verify is True:
        import certifi

        return ssl.create_default_context(cafile=certifi.where())
    return ssl.create_default_context(cafile=str(verify))


# --- e-mail ----------------------------------------------------------------------------------


def email(target: DailyFileTarget, parcel: Parcel, config: Config) -> str:
    """The zip attached, or, above ``payhub.daily_file_attach_max_bytes``, a signed link to
    download it (valid ``payhub.link_max_age_days``)."""
    recipients = list(target.recipients or [])
    subject = (
        f"Flusso giornaliero / Daily file {parcel.ente_fiscal_code} {parcel.service_code} "
        f"{parcel.business_date} v{parcel.version}"
    )
    intro = (
        f"{parcel.ente_name} - servizio/service {parcel.service_code} - "
        f"giorno/day {parcel.business_date} - versione/version {parcel.version}\n"
        f"SHA-256: {parcel.sha256}\n"
    )
    if parcel.test:  # the test payments of an Ente or service in test only: no real money
        subject = f"[TEST] {subject}"
        intro = (
            "FILE DI PROVA: pagamenti di prova, nessun incasso reale. / "
            "TEST FILE: test payments, no real money.\n" + intro
        )
    headers = {"X-Payhub-Daily-File": parcel.name, "X-Payhub-File-SHA256": parcel.sha256}
    try:
        if parcel.size <= config.daily_file_attach_max_bytes:
            mail.send(
                config,
                to=recipients,
                subject=subject,
                text=intro + "\nIl file e' allegato. / The file is attached.\n",
                attachments=[
                    mail.Attachment(parcel.name, parcel.path.read_bytes(), "application/zip")
                ],
                headers=headers,
            )
            return "attached"
        link = download_link(config, parcel.file_id)
        mail.send(
            config,
            to=recipients,
            subject=subject,
            text=intro + f"\nScaricalo da / Download it from:\n{link}\n",
            headers=headers,
        )
        return "linked"
    except (mail.MailError, ValueError) as exc:
        raise DeliveryError(f"e-mail: {str(exc).splitlines()[0][:200]}") from None


def download_link(config: Config, file_id: int) -> str:
    if not config.public_url:
        raise DeliveryError(
            "e-mail: the file is too large to attach and payhub.public_url is unset"
        )
    token = signing.make_token(config, LINK_PURPOSE, {"file": file_id})
    return f"{config.public_url.rstrip('/')}/ops/daily-files/link/{token}"


def read_link(config: Config, token: str) -> int:
    """The file id a download link names (signing.BadLink if tampered or expired)."""
    payload = signing.read_token(config, LINK_PURPOSE, token)
    return int(payload["file"])
