"""The hostile review's cases (issue 17), replayed on the whole app (payhub.app.configure: the
request gate, the security headers, every adapter) on PostgreSQL with the demo data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from webtest import TestApp

from hub.seed import DEMO_OPERATOR, DEMO_OPERATOR_PASSWORD, seed_demo
from hub.tenants import api_keys
from payhub.app import configure

SETTINGS = {
    "payhub.broker": "stub",
    "payhub.embedded_worker": "false",
    "payhub.sla_recorder": "false",
    "payhub.soap_enabled": "false",
    "payhub.checkout_client": "fake",
    "payhub.session_secret": "s" * 40,
    "payhub.ops_secret": "o" * 40,
    "payhub.ops_statement_max_bytes": "200000",
}


def build(pg_url: str, **extra: str) -> TestApp:
    app = configure({"sqlalchemy.url": pg_url, **SETTINGS, **extra}).make_wsgi_app()
    return TestApp(
        app,
        extra_environ={
            "wsgi.url_scheme": "https",
            "HTTP_HOST": "payhub.test",
            "HTTP_ACCEPT_LANGUAGE": "en",
            "REMOTE_ADDR": "127.0.0.1",
        },
    )


@dataclass
class Site:
    app: TestApp
    factory: Any
    key: str

    def login(self, username: str = DEMO_OPERATOR, password: str = DEMO_OPERATOR_PASSWORD) -> Any:
        form = self.app.get("/ops/login").forms[0]
        form["username"], form["password"] = username, password
        return form.submit(status="*")

    def csrf(self) -> str:
        return self.app.get("/ops/login").forms[0]["csrf_token"].value

    def post(self, path: str, fields: Any, **kw: Any) -> Any:
        kw.setdefault("status", "*")
        headers = {"Referer": "https://payhub.test/ops/", **kw.pop("headers", {})}
        return self.app.post(path, fields, headers=headers, **kw)

    def api(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@pytest.fixture
def site(pg_url, committed_factory) -> Site:
    with committed_factory.begin() as session:
        seed_demo(session)
        key = api_keys.create_key(session, "gestionale", ["77777777777"]).secret
    return Site(build(pg_url), committed_factory, key)
