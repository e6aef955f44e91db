"""The referente's link (issue 15): configuring a request in test writes an outbox message
that, once committed, the worker turns into a real e-mail (SMTP server of tests/servers); a
message for a request that has moved on sends nothing."""

from __future__ import annotations

from collections.abc import Iterator

import dramatiq
import pytest

from actors import broker as broker_mod
from actors import outbox as relay
from hub.config import Config
from hub.models import Ente, Intermediary, Station
from hub.onboarding import confirmations, requests

pytestmark = pytest.mark.pg
PUBLIC = "https://payhub.example.it"


@pytest.fixture
def mailing(committed_factory, smtp) -> Iterator[tuple[dramatiq.Broker, Config]]:
    settings = {
        "payhub.broker": "stub",
        "payhub.embedded_worker": "false",
        "payhub.public_url": PUBLIC,
        "payhub.ops_secret": "o" * 40,
        **{k: str(v) for k, v in smtp.settings.items()},
    }
    broker = broker_mod.setup(settings, committed_factory)
    relay.install_relay(committed_factory)
    broker.flush_all()
    worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=1)
    worker.start()
    yield broker, Config.from_settings(settings)
    worker.stop()
    broker.flush_all()


def _request(factory) -> int:
    with factory.begin() as session:
        broker = Intermediary(broker_code="12345678901", name="Intermediario")
        session.add(Station(station_code="12345678901_90", intermediary=broker, test=True))
        ente = Ente(
            fiscal_code="01234567890",
            name="Comune di Prova",
            segregation_code="42",
            referente_email="referente@comune.example.it",
        )
        session.add(ente)
        session.flush()
        return requests.open_request(
            session, ente=ente, kind="activation", subject="Attivazione", actor="cli"
        ).id


def test_configuring_in_test_e_mails_the_referente_a_working_link(mailing, committed_factory, smtp):
    broker, config = mailing
    request_id = _request(committed_factory)
    with committed_factory.begin() as session:
        requests.move(session, request_id, "configure_test", actor="ops:alice")
    broker.join("default", timeout=20_000)
    [message] = smtp.wait_for(1)
    assert message["To"] == "referente@comune.example.it"
    text = message.get_body(("plain",)).get_content()
    token = text.split(PUBLIC + "/ops/activation/confirm/", 1)[1].split()[0]
    with committed_factory() as session:
        found = confirmations.awaited(session, config, token)
        assert found.request.id == request_id and found.environment == "test"


def test_a_link_for_a_request_that_moved_on_is_not_sent(mailing, committed_factory, smtp):
    broker, config = mailing
    request_id = _request(committed_factory)
    with committed_factory.begin() as session:
        step = requests.move(session, request_id, "configure_test", actor="ops:alice")
        requests.move(session, request_id, "cancel", actor="cli")
        step_id = step.id
    broker.join("default", timeout=20_000)
    assert smtp.messages == []
    with committed_factory() as session:
        assert confirmations.send_link(session, config, step_id) is False
