"""A real FTPS server on 127.0.0.1 for tests: pyftpdlib with explicit TLS (AUTH TLS, TLS
required on control and data connections), its certificate from a throwaway CA (trustme).

    from tests.servers.ftps import ftps, ftps_server  # noqa: F401  (the fixtures)

``ftps.settings`` holds ``payhub.outgoing_ca_bundle`` (the CA that signed its certificate);
``ftps.target()`` the fields of a DailyFileTarget that reaches it; ``ftps.uploads`` the files
received (name, size); ``ftps.fail_next(n)`` answers the next ``n`` connections 421 and closes them.
"""

from __future__ import annotations

import shutil
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

with warnings.catch_warnings():  # pyftpdlib still imports asynchat/asyncore (gone in 3.12)
    warnings.simplefilter("ignore", DeprecationWarning)
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import TLS_FTPHandler
    from pyftpdlib.servers import ThreadedFTPServer

USERNAME = "ente"
PASSWORD = "s3cret-ftps"


class FtpsServer:
    def __init__(self, workdir: Path) -> None:
        self.root = workdir / "root"
        self.root.mkdir()
        self.lock = threading.Lock()
        self.failures = 0
        self.uploads: list[tuple[str, int]] = []
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        self.ca_pem = workdir / "ftps-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_pem))
        combined = workdir / "ftps-cert.pem"
        cert.private_key_and_cert_chain_pem.write_to_path(str(combined))
        authorizer = DummyAuthorizer()
        authorizer.add_user(USERNAME, PASSWORD, str(self.root), perm="elradfmwMT")
        server = self

        class Handler(TLS_FTPHandler):
            certfile = str(combined)
            tls_control_required = True
            tls_data_required = True
            banner = "payhub test FTPS"

            def ftp_AUTH(self, line: str) -> Any:
                """A receiver down: 421 to the first command and the connection closed."""
                with server.lock:
                    drop = server.failures > 0
                    if drop:
                        server.failures -= 1
                if drop:
                    self.respond("421 Service not available, try again later.")
                    self.close_when_done()
                    return None
                return super().ftp_AUTH(line)

            def on_file_received(self, file: str) -> None:
                with server.lock:
                    server.uploads.append((Path(file).name, Path(file).stat().st_size))

        Handler.authorizer = authorizer
        self.server = ThreadedFTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def settings(self) -> dict[str, Any]:
        return {"payhub.outgoing_ca_bundle": str(self.ca_pem)}

    def target(self, directory: str = "incoming") -> dict[str, Any]:
        (self.root / directory).mkdir(parents=True, exist_ok=True)
        return {
            "kind": "ftps",
            "host": "127.0.0.1",
            "port": self.port,
            "username": USERNAME,
            "secret": PASSWORD,
            "directory": directory,
        }

    def fail_next(self, count: int) -> None:
        with self.lock:
            self.failures = count

    def clear(self) -> None:
        with self.lock:
            self.failures = 0
            self.uploads.clear()
        for child in self.root.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()


@pytest.fixture(scope="session")
def ftps_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FtpsServer]:
    server = FtpsServer(tmp_path_factory.mktemp("ftps"))
    server.thread.start()
    try:
        yield server
    finally:
        server.server.close_all()
        server.thread.join(timeout=10)


@pytest.fixture
def ftps(ftps_server: FtpsServer) -> FtpsServer:
    """The session's FTPS server, emptied for this test."""
    ftps_server.clear()
    return ftps_server
