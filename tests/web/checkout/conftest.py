"""Checkout fixtures: the citizen pages and the level-1 API on PostgreSQL with the demo data,
a fake Checkout client, and a browser-like WebTest client over https (Secure cookies)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from pyramid.config import Configurator
from webtest import TestApp

from hub.checkout import FakeCheckoutClient
from hub.seed import seed_demo
from hub.settings import load_settings
from web.clientaddr import limiter_of

OSAP = "/pay/enti/77777777777/services/OSAP1"
SANP_NOTICE = "311111111112222222"


def build_app(settings: dict) -> TestApp:
    """The web parts under test, in payhub.app.configure's order (the rest of the app is
    not needed here)."""
    config = Configurator(
        settings=load_settings(
            {
                "payhub.embedded_worker": "false",
                "payhub.session_secret": "s" * 40,
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
    config.include("web.level1")
    return TestApp(
        config.make_wsgi_app(),
        extra_environ={
            "wsgi.url_scheme": "https",
            "HTTP_HOST": "payhub.test",
            "HTTP_ACCEPT_LANGUAGE": "en",
        },
    )


@pytest.fixture(scope="session")
def checkout_app(pg_url) -> TestApp:
    return build_app({"sqlalchemy.url": pg_url})


@dataclass
class Shop:
    app: TestApp
    factory: object

    @property
    def checkout(self) -> FakeCheckoutClient:
        return self.app.app.registry["checkout.client"]

    def spontaneous(self, amount: str = "12,50", **fields) -> object:
        form = self.app.get(OSAP).forms[0]
        values = {
            "address": "Via Roma 1",
            "amount": amount,
            "payer_fiscal_code": "RSSMRA80A01H501U",
            "payer_name": "Mario Rossi",
            **fields,
        }
        for name, value in values.items():
            form[name] = value
        return form.submit(status="*")

    def lookup(self, notice: str = SANP_NOTICE, ec: str = "77777777777") -> object:
        form = self.app.get(f"/pay/enti/{ec}").forms[0]
        form["notice_number"] = notice
        return form.submit(status="*")

    def pay(self, **extra) -> object:
        cart = self.app.get("/pay/cart")
        return cart.forms[len(cart.forms) - 1].submit(status="*", **extra)


@pytest.fixture
def shop(checkout_app, committed_factory) -> Shop:
    with committed_factory.begin() as session:
        seed_demo(session)
    checkout_app.reset()
    checkout_app.app.registry["checkout.client"].carts.clear()
    checkout_app.app.registry["checkout.client"].fail = False
    limiter_of(checkout_app.app.registry).reset()
    return Shop(checkout_app, committed_factory)
