"""The far end of onboarding, shared by the CLI and REST API tests: the whole payhub app on the
real database (SOAP station, REST API, dashboard) over WebTest, and pagoPA played by nodesim's
Node calling that station in-process (the same requests as over HTTP, per the official
contracts), so a citizen can pay a notice of a freshly onboarded Ente."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from webtest import TestApp

from nodesim.clock import SimClock
from nodesim.node import Node
from nodesim.station import Reply, StationClient, StationConfig

SOAP_PATH = "/soap/paForNode"


def build_site(pg_url: str) -> TestApp:
    from payhub.app import make_app

    app = make_app(
        {
            "sqlalchemy.url": pg_url,
            "payhub.broker": "stub",
            "payhub.embedded_worker": "false",
            "payhub.log_level": "WARNING",
            "payhub.soap_station_cache_seconds": "0",
            "payhub.soap_open_station": "true",
            "payhub.session_secret": "s" * 40,
            "payhub.ops_secret": "o" * 40,
            "payhub.checkout_client": "fake",
        }
    )
    return TestApp(
        app,
        extra_environ={
            "wsgi.url_scheme": "https",
            "HTTP_HOST": "payhub.test",
            "HTTP_ACCEPT_LANGUAGE": "en",
        },
    )


def node_for(site: TestApp, broker: str, station: str, version: int) -> Node:
    """nodesim's Node, its station client posting to ``site``'s paForNode endpoint."""

    def transport(
        url: str, action: str, payload: bytes, timeout: float, *, headers: Mapping[str, str]
    ) -> Reply:
        answer = site.post(
            SOAP_PATH,
            payload,
            headers={
                **headers,
                "Content-Type": "text/xml; charset=utf-8",
                "SOAPAction": f'"{action}"',
            },
            expect_errors=True,
        )
        return Reply(answer.body, answer.status_int)

    config = StationConfig(
        url=f"https://payhub.test{SOAP_PATH}",
        broker=broker,
        station=station,
        primitive_version=version,
    )
    return Node(config, clock=SimClock(), client=StationClient(config, transport))


def citizen_pays(
    site: TestApp, *, broker: str, station: str, version: int, ec: str, notice: str
) -> dict[str, Any]:
    """A citizen pays ``notice`` at a PSP: verify, activate, receipt delivered to the station."""
    node = node_for(site, broker, station, version)
    try:
        paid = node.pay_notice(ec, notice)
    finally:
        node.deliverer.stop()
    return {**paid, "delivered": node.deliverer.get(paid["payment"]["receiptId"])}


def operator_sees_paid(site: TestApp, username: str, password: str, ec: str, notice: str) -> str:
    """Log in to /ops as ``username`` and find ``notice`` among the Ente's payments; returns
    the page of the payment."""
    form = site.get("/ops/login").forms[0]
    form["username"] = username
    form["password"] = password
    form.submit(status=303)
    found = site.get(f"/ops/enti/{ec}/search", {"notice_number": notice})
    link = found.html.select_one("a[href*='/payments/']")
    assert link is not None, found.text
    return site.get(link["href"]).text
