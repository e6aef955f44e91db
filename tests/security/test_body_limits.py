"""Issue 17 item 1: no body is read past the limit before authentication (one gate for every
route, before pyramid_retry, CSRF parsing or level 1's JSON); waitress bounds bodies too."""

from __future__ import annotations

import configparser
import io
from pathlib import Path

from webob import Request

from payhub.app import PayhubRequest
from tests.security.conftest import build

ROOT = Path(__file__).resolve().parents[2]


class Endless:
    """A request body that never ends, counting what was read of it."""

    def __init__(self) -> None:
        self.read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        size = 65536 if size is None or size < 0 else min(size, 65536)
        self.read_bytes += size
        return b"a" * size

    def readline(self, size: int = -1) -> bytes:
        return self.read(size)


def _call(
    app,
    path: str,
    *,
    length: str | None,
    body: Endless,
    content_type: str,
    chunked_by_header: bool = False,
) -> object:
    environ = {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": content_type,
        "wsgi.input": body,
        "wsgi.url_scheme": "https",
        "HTTP_HOST": "payhub.test",
        "REMOTE_ADDR": "127.0.0.1",
    }
    if length is None and chunked_by_header:  # a server that leaves wsgi.input_terminated out
        environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    elif length is None:  # as gunicorn and granian pass it
        environ["wsgi.input_terminated"] = True
    else:
        environ["CONTENT_LENGTH"] = length
    return Request.blank(path, environ).get_response(app.app)


def test_a_300_mb_login_form_is_refused_before_the_csrf_check_reads_it(site):
    body = Endless()
    answer = _call(
        site.app,
        "/ops/login",
        length=str(300 * 1024 * 1024),
        body=body,
        content_type="application/x-www-form-urlencoded",
    )
    assert answer.status_int == 413
    assert body.read_bytes == 0


def test_an_endless_chunked_level1_body_is_cut_at_the_limit_before_the_key_is_checked(site):
    body = Endless()
    answer = _call(
        site.app, "/level1/v1/payments", length=None, body=body, content_type="application/json"
    )
    assert answer.status_int == 413
    assert body.read_bytes <= 1024 * 1024 + 65536


def test_a_chunked_body_said_only_by_its_header_is_cut_at_the_limit_too(site):
    body = Endless()
    answer = _call(
        site.app,
        "/level1/v1/payments",
        length=None,
        body=body,
        content_type="application/json",
        chunked_by_header=True,
    )
    assert answer.status_int == 413
    assert body.read_bytes <= 1024 * 1024 + 65536


def test_every_route_has_the_limit_and_uploads_their_own(pg_url, committed_factory):
    app = build(pg_url, **{"payhub.max_body_bytes": "1000", "payhub.bulk_max_bytes": "5000"})
    for path in ("/api/v1/enti/77777777777/debt-positions", "/pay/cart", "/ops/logout"):
        answer = _call(app, path, length="1001", body=Endless(), content_type="text/plain")
        assert answer.status_int == 413, path
    bulk = "/api/v1/enti/77777777777/bulk-loads"
    assert _call(app, bulk, length="4000", body=Endless(), content_type="text/csv").status_int in (
        401,
        403,
    )
    assert _call(app, bulk, length="5001", body=Endless(), content_type="text/csv").status_int == (
        413
    )


def test_waitress_in_development_ini_bounds_bodies_and_idle_connections():
    ini = configparser.ConfigParser()
    ini.read(ROOT / "development.ini")
    server = ini["server:main"]
    assert int(server["max_request_body_size"]) <= 256 * 1024 * 1024
    assert int(server["connection_limit"]) >= 500
    assert int(server["channel_timeout"]) <= 30


class Once:
    """A body as a server hands it on: read once as it comes, not seekable."""

    def __init__(self, size: int) -> None:
        self.data = io.BytesIO(b"a" * size)

    def read(self, size: int = -1) -> bytes:
        return self.data.read(size)

    def readline(self, size: int = -1) -> bytes:
        return self.data.readline(size)


def test_the_copy_webob_makes_of_a_large_body_is_closed_with_the_response(site, monkeypatch):
    """pyramid_retry makes every body seekable: above 512 KiB WebOb copies it into a temporary
    file and never closes it (left to the garbage collector, which warns). The gate closes it
    once the response is built."""
    made = []
    real = PayhubRequest.make_tempfile

    def spy(self):
        made.append(real(self))
        return made[-1]

    monkeypatch.setattr(PayhubRequest, "make_tempfile", spy)
    size = 700 * 1024  # under the 1 MiB limit, over WebOb's in-memory copy
    answer = _call(
        site.app,
        "/ops/login",
        length=str(size),
        body=Once(size),
        content_type="application/x-www-form-urlencoded",
    )
    assert answer.status_int < 500
    assert made and all(f.closed for f in made)
