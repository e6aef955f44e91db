"""Outgoing e-mail: the one SMTP client of payhub (referenti's confirmations, daily files,
maintenance notices, help-desk messages).

``send(config, to=..., subject=..., text=...)`` builds a standard ``EmailMessage`` (plain text,
optional HTML alternative, attachments) and hands it to ``payhub.smtp_host``:

- ``payhub.smtp_security = starttls`` (default, port 587) upgrades the connection before
  anything is said; ``tls`` (port 465) speaks TLS from the first byte; ``none`` is accepted only
  towards a loopback relay (a local MTA), never across a network;
- the server's certificate is checked against the same authorities as every outgoing HTTPS call
  (``hub.http.verify_setting``: the public CAs plus ``payhub.outgoing_ca_bundle``);
- ``payhub.smtp_username`` / ``smtp_password`` log in, only ever over TLS.

Failures raise :class:`MailError` with a one-line reason (no message body, no address list in
it), so the caller (an outbox actor) retries with backoff and, in the end, dead-letters.
"""

from __future__ import annotations

import ipaddress
import smtplib
import socket
import ssl
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from hub.config import Config, as_config
from hub.http import verify_setting
from hub.settings import SettingsError

__all__ = ["Attachment", "MailError", "MailNotConfigured", "build", "configured", "send"]


class MailError(RuntimeError):
    """The message could not be handed to the SMTP server (retry later)."""


class MailNotConfigured(MailError):
    """``payhub.smtp_host`` is not set: this deployment sends no e-mail."""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    mime_type: str = "application/octet-stream"


def configured(settings: Config | Mapping[str, Any]) -> bool:
    return bool(as_config(settings).smtp_host)


def build(
    config: Config,
    *,
    to: Sequence[str],
    subject: str,
    text: str,
    html: str | None = None,
    attachments: Iterable[Attachment] = (),
    headers: Mapping[str, str] | None = None,
) -> EmailMessage:
    """The message as it will be sent (a Message-ID is always set)."""
    if not to:
        raise ValueError("an e-mail needs at least one recipient")
    for address in to:
        if "\n" in address or "\r" in address or "@" not in address:
            raise ValueError("not an e-mail address")
    msg = EmailMessage()
    msg["From"] = config.mail_from
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject.replace("\r", " ").replace("\n", " ")
    msg["Message-ID"] = make_msgid(domain=_domain(config.mail_from))
    for name, value in (headers or {}).items():
        msg[name] = value.replace("\r", " ").replace("\n", " ")
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for item in attachments:
        maintype, _, subtype = item.mime_type.partition("/")
        msg.add_attachment(
            item.content,
            maintype=maintype,
            subtype=subtype or "octet-stream",
            filename=item.filename,
        )
    return msg


def send(config: Config | Mapping[str, Any], **message: Any) -> str:
    """Send one message (see :func:`build` for the arguments); returns its Message-ID."""
    config = as_config(config)
    msg = build(config, **message)
    deliver(config, msg)
    return str(msg["Message-ID"])


def deliver(config: Config | Mapping[str, Any], msg: EmailMessage) -> None:
    """Hand a built message to the configured SMTP server, or raise MailError."""
    config = as_config(config)
    host = config.smtp_host
    if not host:
        raise MailNotConfigured("payhub.smtp_host is not set: e-mail is disabled")
    security = config.smtp_security
    if security == "none" and not _loopback(host):
        raise SettingsError(
            "payhub.smtp_security = none is only allowed towards a loopback relay "
            f"(not {host}); use starttls or tls"
        )
    timeout = config.smtp_timeout_seconds
    try:
        if security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                host, config.smtp_port, timeout=timeout, context=_tls_context(config)
            )
        else:
            smtp = smtplib.SMTP(host, config.smtp_port, timeout=timeout)
        with smtp:
            smtp.ehlo()
            if security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise MailError(f"{host} does not offer STARTTLS")
                smtp.starttls(context=_tls_context(config))
                smtp.ehlo()
            if config.smtp_username:
                smtp.login(config.smtp_username, config.smtp_password or "")
            smtp.send_message(msg)
    except MailError:
        raise
    except smtplib.SMTPResponseException as exc:
        raise MailError(f"{host} answered {exc.smtp_code}") from None
    except smtplib.SMTPRecipientsRefused:
        raise MailError(f"{host} refused the recipients") from None
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        raise MailError(f"{host}: {type(exc).__name__}: {exc}".splitlines()[0][:200]) from None


def _tls_context(config: Config) -> ssl.SSLContext:
    verify = verify_setting(config)
    if verify is True:
        import certifi

        return ssl.create_default_context(cafile=certifi.where())
    return ssl.create_default_context(cafile=str(verify))


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(
                ipaddress.ip_address(info[4][0]).is_loopback
                for info in socket.getaddrinfo(host, None)
            )
        except OSError:
            return False


def _domain(address: str) -> str:
    tail = address.rsplit("@", 1)[-1]
    return tail.strip(" >") or "localhost"
