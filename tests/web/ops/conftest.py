"""Dashboard fixtures: web.checkout + web.ops on PostgreSQL with the demo data (an operator of
the demo Ente, a support account), and a browser-like WebTest client over https."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from pyramid.config import Configurator
from webtest import TestApp

from hub.seed import (
    DEMO_EC,
    DEMO_OPERATOR,
    DEMO_OPERATOR_PASSWORD,
    DEMO_SUPPORT,
    DEMO_SUPPORT_PASSWORD,
    SECOND_EC,
    seed_demo,
)
from hub.settings import load_settings
from web.clientaddr import limiter_of

A, B = DEMO_EC, SECOND_EC
PASSWORDS = {DEMO_OPERATOR: DEMO_OPERATOR_PASSWORD, DEMO_SUPPORT: DEMO_SUPPORT_PASSWORD}


def build_ops_app(settings: dict) -> TestApp:
    config = Configurator(
        settings=load_settings(
            {
                "payhub.embedded_worker": "false",
                "payhub.session_secret": "s" * 40,
                "payhub.ops_secret": "o" * 40,
                "payhub.checkout_client": "fake",
                "tm.manager_hook": "pyramid_tm.explicit_manager",
                **settings,
            }
        )
    )
    config.include("pyramid_retry")
    config.include("pyramid_tm")
    config.include("hub.db")
    config.include("web.checkout", route_prefix="/pay")
    config.include("web.ops", route_prefix="/ops")
    return TestApp(
        config.make_wsgi_app(),
        extra_environ={
            "wsgi.url_scheme": "https",
            "HTTP_HOST": "payhub.test",
            "HTTP_ACCEPT_LANGUAGE": "en",
        },
    )


@pytest.fixture(scope="session")
def ops_app(pg_url) -> TestApp:
    return build_ops_app({"sqlalchemy.url": pg_url, "payhub.ops_statement_max_bytes": "5000"})


@dataclass
class Ops:
    app: TestApp
    factory: object

    def login(
        self, username: str = DEMO_OPERATOR, password: str | None = None, status: int | str = "*"
    ) -> object:
        form = self.app.get("/ops/login").forms[0]
        form["username"] = username
        form["password"] = PASSWORDS.get(username, "") if password is None else password
        return form.submit(status=status)

    def post(self, path: str, fields: dict, status: int | str = "*", **kw) -> object:
        """A form post from one of our pages (token and Referer, as a browser sends them)."""
        return self.app.post(
            path,
            {"csrf_token": self.csrf(), **fields},
            status=status,
            headers={"Referer": "https://payhub.test/ops/"},
            **kw,
        )

    def csrf(self) -> str:
        return self.app.get("/ops/login").forms[0]["csrf_token"].value


@pytest.fixture
def ops(ops_app, committed_factory) -> Ops:
    with committed_factory.begin() as session:
        seed_demo(session)
    ops_app.reset()
    limiter_of(ops_app.app.registry).reset()  # the login throttle's counts (in memory)
    return Ops(ops_app, committed_factory)
