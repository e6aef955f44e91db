"""A real SMTP server on 127.0.0.1 for tests: aiosmtpd, STARTTLS with a certificate from a
throwaway CA (trustme), optional login; every message received kept, parsed.

    from tests.servers.smtp import smtp_server  # the fixture (re-exported by tests/conftest.py)

    def test_x(smtp_server):
        config = Config.from_settings({**smtp_server.settings, ...})
        hub.mail.send(config, to=["a@example.it"], subject="s", text="t")
        assert smtp_server.messages[0]["Subject"] == "s"

``smtp_server.settings`` are the ``payhub.smtp_*`` settings (and ``outgoing_ca_bundle``) that
reach it; ``smtp_server.fail_next(n)`` makes the next ``n`` messages fail with 451 (a receiver
down), ``smtp_server.wait_for(count)`` waits for messages sent by another thread.
"""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USERNAME = "payhub"
PASSWORD = "s3cret-smtp"


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.server.lock:
            if self.server.failures > 0:
                self.server.failures -= 1
                return "451 4.3.0 try again later"
            msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
            self.server.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self.server.messages.append(msg)  # type: ignore[arg-type]
        return "250 OK"


class SmtpServer:
    def __init__(self, workdir: Path) -> None:
        self.lock = threading.Lock()
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.failures = 0
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        self.ca_pem = workdir / "smtp-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_pem))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.controller = Controller(
            _Handler(self),
            hostname="127.0.0.1",
            port=self.port,
            tls_context=context,
            require_starttls=True,
            authenticator=self._authenticate,
            auth_require_tls=True,
            auth_required=False,
            ready_timeout=10,
        )

    @staticmethod
    def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        ok = (
            isinstance(data, LoginPassword)
            and data.login.decode() == USERNAME
            and data.password.decode() == PASSWORD
        )
        return AuthResult(success=ok)

    @property
    def settings(self) -> dict[str, Any]:
        return {
            "payhub.smtp_host": "127.0.0.1",
            "payhub.smtp_port": self.port,
            "payhub.smtp_security": "starttls",
            "payhub.smtp_username": USERNAME,
            "payhub.smtp_password": PASSWORD,
            "payhub.smtp_timeout_seconds": 10,
            "payhub.outgoing_ca_bundle": str(self.ca_pem),
            "payhub.mail_from": "payhub <noreply@payhub.test>",
        }

    def fail_next(self, count: int) -> None:
        with self.lock:
            self.failures = count

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()
            self.envelopes.clear()
            self.failures = 0

    def wait_for(self, count: int, timeout: float = 30.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.05)
        raise AssertionError(f"{len(self.messages)} messages arrived, {count} expected")


@pytest.fixture(scope="session")
def smtp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpServer]:
    server = SmtpServer(tmp_path_factory.mktemp("smtp"))
    server.controller.start()
    try:
        yield server
    finally:
        server.controller.stop()


@pytest.fixture
def smtp(smtp_server: SmtpServer) -> SmtpServer:
    """The session's SMTP server, emptied for this test."""
    smtp_server.clear()
    return smtp_server
