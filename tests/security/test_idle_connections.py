"""Issue 17 item 2: idle connections do not take the development server offline (waitress as
development.ini configures it); production's limits are the proxy's (deploy/nginx)."""

from __future__ import annotations

import configparser
import contextlib
import socket
import threading
import urllib.request
from pathlib import Path

from waitress.server import create_server

ROOT = Path(__file__).resolve().parents[2]
SERVER_KEYS = ("connection_limit", "channel_timeout", "max_request_body_size", "cleanup_interval")


def _hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def test_150_idle_connections_leave_the_development_server_answering():
    ini = configparser.ConfigParser()
    ini.read(ROOT / "development.ini")
    options = {k: int(v) for k, v in ini["server:main"].items() if k in SERVER_KEYS}
    server = create_server(_hello, host="127.0.0.1", port=0, **options)
    port = server.effective_port

    def run() -> None:
        # the sockets close under select() at shutdown below: that is the test's own doing
        with contextlib.suppress(OSError, ValueError):
            server.run()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    idle = []
    try:
        for _ in range(150):
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
            assert answer.read() == b"ok"
    finally:
        for s in idle:
            s.close()
        server.close()
        thread.join(5)


def test_the_nginx_example_bounds_slow_and_many_connections():
    conf = (ROOT / "deploy/nginx/payhub.conf").read_text()
    for directive in (
        "client_body_timeout",
        "client_header_timeout",
        "limit_conn ",
        "limit_req ",
        "send_timeout",
        "client_max_body_size 1m",
    ):
        assert directive in conf, directive
