"""The far end of onboarding, shared by the CLI and REST API tests: the whole payhub app on the
real database (SOAP station, REST API, dashboard) over WebTest, and pagoPA played by nodesim's
Node calling that station in-process (the same requests as over HTTP, per the official
contracts), so a citizen can pay a notice of a freshly onboarded Ente.

For activation requests (tests/payhub/test_onboarding_e2e_cli.py,
tests/web/api/test_onboarding_e2e_api.py): ``mail_worker`` runs the real outbox actor that
e-mails the referente (the ``smtp`` test server), ``referente_confirms`` follows the e-mailed
signed link on the site as the referente would."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import dramatiq
import sqlalchemy as sa
from webtest import TestApp

from nodesim.clock import SimClock
from nodesim.node import Node
from nodesim.station import Reply, StationClient, StationConfig

SOAP_PATH = "/soap/paForNode"
PUBLIC = "https://payhub.test"
OPS_SECRET = "o" * 40


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
            "payhub.ops_secret": OPS_SECRET,
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
    return payment_page(site, ec, notice)


def payment_page(site: TestApp, ec: str, notice: str) -> str:
    """The page of the payment of ``notice`` found by an operator already logged in."""
    found = site.get(f"/ops/enti/{ec}/search", {"notice_number": notice})
    link = found.html.select_one("a[href*='/payments/']")
    assert link is not None, found.text
    return site.get(link["href"]).text


def load_notice(
    site: TestApp, key: str, ec: str, *, iupd: str, amount: str, iban: str, taxonomy: str
) -> str:
    """The Ente's application (its API key) publishes a position with one notice."""
    created = site.post_json(
        f"/api/v1/enti/{ec}/debt-positions?publish=true",
        {
            "iupd": iupd,
            "debtorType": "F",
            "debtorFiscalCode": "RSSMRA80A01H501U",
            "debtorName": "Mario Rossi",
            "description": iupd,
            "options": [
                {
                    "amount": amount,
                    "dueDate": "2099-12-31",
                    "transfers": [
                        {
                            "amount": amount,
                            "remittanceInformation": iupd,
                            "category": taxonomy,
                            "iban": iban,
                        }
                    ],
                }
            ],
        },
        headers={"Authorization": f"Bearer {key}"},
        status=201,
    )
    return str(created.json["options"][0]["noticeNumber"])


@contextmanager
def mail_worker(factory: Any, smtp: Any) -> Iterator[dramatiq.Broker]:
    """A Dramatiq worker (stub broker) running payhub's actors with settings that reach the
    ``smtp`` test server and write links to ``PUBLIC`` signed as the site checks them."""
    from actors import broker as broker_mod

    settings = {
        "payhub.broker": "stub",
        "payhub.embedded_worker": "false",
        "payhub.public_url": PUBLIC,
        "payhub.ops_secret": OPS_SECRET,
        **{k: str(v) for k, v in smtp.settings.items()},
    }
    broker = broker_mod.setup(settings, factory)
    broker.flush_all()
    worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=1)
    worker.start()
    try:
        yield broker
    finally:
        worker.stop()
        broker.flush_all()


def send_activation_links(broker: dramatiq.Broker, factory: Any) -> int:
    """Relay the committed, unprocessed referente-link messages of the outbox to the worker
    (what the relay or, at the end of a lease, the sweeper does: the site's own relay may have
    handed them to its broker, whose messages nobody runs here) and wait until it has run
    them; returns how many."""
    from actors import outbox as relay
    from hub import outbox
    from hub.actor_names import SEND_ACTIVATION_LINK
    from hub.models import OutboxMessage

    with factory() as session:
        links = [
            outbox.message_dict(m)
            for m in session.scalars(
                sa.select(OutboxMessage)
                .where(
                    OutboxMessage.actor_name == SEND_ACTIVATION_LINK,
                    OutboxMessage.processed_at.is_(None),
                    OutboxMessage.dead_at.is_(None),
                )
                .order_by(OutboxMessage.id)
            )
        ]
    sent = relay.relay(broker, factory, links)
    for queue in {m["queue_name"] or "default" for m in links}:
        broker.join(queue, timeout=20_000)
    return sent


def link_in(message: Any) -> str:
    """The path of the one confirmation link of an e-mail to the referente."""
    text = message.get_body(("plain",)).get_content()
    found = set(re.findall(re.escape(PUBLIC) + r"(/ops/activation/confirm/\S+)", text))
    assert len(found) == 1, text
    return found.pop()


def referente_confirms(site: TestApp, message: Any) -> str:
    """The referente, not logged in, opens the e-mailed link and answers "it works"; returns
    the page that says what was configured."""
    site.reset()
    page = site.get(link_in(message))
    answered = page.forms["confirm-form"].submit("answer", value="confirm")
    assert "your confirmation was recorded" in answered.text, answered.text
    return page.text


def receipt_of(factory: Any, notice: str) -> Any:
    from hub.models import Receipt

    with factory() as session:
        return session.scalar(sa.select(Receipt).where(Receipt.notice_number == notice))
