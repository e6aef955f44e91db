"""Actor fixtures: a broker set up like the application's, with a worker to drain it."""

from __future__ import annotations

from collections.abc import Iterator

import dramatiq
import pytest

from actors import broker as broker_mod
from actors import outbox


@pytest.fixture
def stub_broker(committed_factory) -> Iterator[dramatiq.Broker]:
    broker = broker_mod.setup(
        {"payhub.broker": "stub", "payhub.embedded_worker": "false"}, committed_factory
    )
    outbox.install_relay(committed_factory)
    broker.flush_all()
    yield broker
    broker.flush_all()


@pytest.fixture
def stub_worker(stub_broker) -> Iterator[dramatiq.Worker]:
    worker = dramatiq.Worker(stub_broker, worker_timeout=100, worker_threads=2)
    worker.start()
    yield worker
    worker.stop()
