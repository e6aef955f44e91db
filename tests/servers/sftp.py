"""A real SFTP server on 127.0.0.1 for tests: asyncssh, its own host key, a password user and a
key user, files kept in a temporary directory (its root); every completed upload counted.

    from tests.servers.sftp import sftp, sftp_server  # noqa: F401  (the fixtures)

    def test_x(sftp):
        target = DailyFileTarget(kind="sftp", **sftp.target(password=True))
        ...
        assert (sftp.root / "incoming" / name).read_bytes() == ...

``sftp.host_key`` is the server's public key (OpenSSH line) to pin; ``sftp.client_key`` the
private key (OpenSSH PEM) it accepts for ``USERNAME``; ``sftp.fail_next(n)`` drops the next
``n`` connections as soon as they open (a receiver down); ``sftp.uploads`` lists the files
written (path, size), one entry per file opened for writing and closed.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest

USERNAME = "ente"
PASSWORD = "s3cret-sftp"


class SftpServer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.lock = threading.Lock()
        self.failures = 0
        self.connections = 0
        self.uploads: list[tuple[str, int]] = []
        self._host_key = asyncssh.generate_private_key("ssh-ed25519")
        self._client_key = asyncssh.generate_private_key("ssh-ed25519")
        self.host_key = self._host_key.export_public_key().decode().strip()
        self.client_key = self._client_key.export_private_key().decode()
        self.client_public = self._client_key.convert_to_public()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.acceptor: Any = None

    def start(self) -> None:
        self.thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self.loop)
        self.acceptor = future.result(timeout=10)

    async def _start(self) -> Any:
        server = self

        class Auth(asyncssh.SSHServer):
            def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
                with server.lock:
                    server.connections += 1
                    drop = server.failures > 0
                    if drop:
                        server.failures -= 1
                if drop:
                    conn.abort()

            def begin_auth(self, username: str) -> bool:
                return True

            def password_auth_supported(self) -> bool:
                return True

            def validate_password(self, username: str, password: str) -> bool:
                return username == USERNAME and password == PASSWORD

            def public_key_auth_supported(self) -> bool:
                return True

            def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
                return username == USERNAME and key == server.client_public

        class Files(asyncssh.SFTPServer):
            def __init__(self, chan: Any) -> None:
                super().__init__(chan, chroot=str(server.root).encode())
                self._writing: dict[int, bytes] = {}

            def open(self, path: bytes, pflags: int, attrs: Any) -> Any:
                handle = super().open(path, pflags, attrs)
                if pflags & asyncssh.FXF_WRITE:
                    self._writing[id(handle)] = path
                return handle

            def close(self, file_obj: Any) -> None:
                super().close(file_obj)
                path = self._writing.pop(id(file_obj), None)
                if path is not None:
                    local = Path(self.map_path(path).decode())
                    with server.lock:
                        server.uploads.append((path.decode(), local.stat().st_size))

        return await asyncssh.create_server(
            Auth,
            "127.0.0.1",
            self.port,
            server_host_keys=[self._host_key],
            sftp_factory=Files,
            allow_scp=False,
        )

    def stop(self) -> None:
        if self.acceptor is not None:
            self.acceptor.close()
            asyncio.run_coroutine_threadsafe(self.acceptor.wait_closed(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()

    def target(self, *, password: bool = True, directory: str = "incoming") -> dict[str, Any]:
        """The fields of a DailyFileTarget that reaches this server."""
        (self.root / directory).mkdir(parents=True, exist_ok=True)
        return {
            "kind": "sftp",
            "host": "127.0.0.1",
            "port": self.port,
            "username": USERNAME,
            "secret": PASSWORD if password else None,
            "private_key": None if password else self.client_key,
            "host_key": self.host_key,
            "directory": directory,
        }

    def fail_next(self, count: int) -> None:
        with self.lock:
            self.failures = count

    def clear(self) -> None:
        with self.lock:
            self.failures = 0
            self.connections = 0
            self.uploads.clear()
        for child in self.root.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()


@pytest.fixture(scope="session")
def sftp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SftpServer]:
    server = SftpServer(tmp_path_factory.mktemp("sftp-root"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sftp(sftp_server: SftpServer) -> SftpServer:
    """The session's SFTP server, emptied for this test."""
    sftp_server.clear()
    return sftp_server
