"""The ACA feed through the real machinery: the scheduler's sweep actor writes outbox
messages, the relay delivers them, the sender actor puts the position in nodesim's ACA; a
large load goes as one file (bulk v2), polled by later sweeps until its report is applied."""

from __future__ import annotations

from collections.abc import Iterator

import dramatiq
import pytest
import requests
from webtest.http import StopableWSGIServer

from actors import broker as broker_mod
from actors import outbox
from hub import aca, actor_names
from hub.models import AcaSync
from nodesim.aca import BASE, BASE_V2
from nodesim.app import make_app
from tests.factories import make_ente, make_position

pytestmark = pytest.mark.pg
KEY = "aca-actor-key"


@pytest.fixture
def sim() -> Iterator[StopableWSGIServer]:
    server = StopableWSGIServer.create(
        make_app({"nodesim.background": "false", "nodesim.rest_key": KEY})
    )
    yield server
    server.shutdown()


@pytest.fixture
def broker(committed_factory, sim) -> Iterator[dramatiq.Broker]:
    broker = broker_mod.setup(
        {
            "payhub.broker": "stub",
            "payhub.embedded_worker": "false",
            "payhub.aca_url": sim.application_url.rstrip("/") + BASE,
            "payhub.aca_key": KEY,
            "payhub.aca_upload_url": sim.application_url.rstrip("/") + BASE_V2,
            "payhub.aca_broker_code": "77777777777",
            "payhub.aca_bulk_threshold": 2,
            "payhub.aca_upload_poll_seconds": 0,
        },
        committed_factory,
    )
    outbox.install_relay(committed_factory)
    broker.flush_all()
    worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=2)
    worker.start()
    yield broker
    worker.stop()
    broker.flush_all()


def test_the_sweep_queues_and_the_sender_puts_the_position_in_aca(committed_factory, broker, sim):
    with committed_factory.begin() as s:
        ente = make_ente(s)
        aca.set_enabled(s, ente, True)
        position_id = make_position(s, ente, iupd="ACA-ACTOR-1").id
    broker.get_actor(actor_names.ACA_SWEEP).send()
    for _ in range(2):  # the sweep, then the message it wrote
        broker.join("default", timeout=20_000)
    state = requests.get(sim.application_url + "api/aca/positions", timeout=5).json()
    assert [(p["iupd"], p["status"]) for p in state["positions"]] == [("ACA-ACTOR-1", "VALID")]
    with committed_factory() as s:
        row = s.get(AcaSync, position_id)
        assert (row.state, row.aca_state, row.attempts) == ("synced", "valid", 0)


def test_a_large_load_goes_as_one_file_and_later_sweeps_apply_its_report(
    committed_factory, broker, sim
):
    with committed_factory.begin() as s:
        ente = make_ente(s)
        aca.set_enabled(s, ente, True)
        ids = [make_position(s, ente, iupd=f"ACA-BULK-{k}").id for k in range(3)]
    sweep = broker.get_actor(actor_names.ACA_SWEEP)
    for _ in range(2):  # the first sweep opens the upload; the second polls it
        sweep.send()
        for _ in range(2):  # the sweep, then the message it wrote
            broker.join("default", timeout=20_000)
    state = requests.get(sim.application_url + "api/aca/positions", timeout=5).json()
    assert sorted(p["iupd"] for p in state["positions"]) == [f"ACA-BULK-{k}" for k in range(3)]
    assert len(state["files"]) == 1
    assert not [c for c in state["calls"] if c["op"] == "create"]  # none sent one by one
    with committed_factory() as s:
        rows = [s.get(AcaSync, i) for i in ids]
        assert {(r.state, r.aca_state) for r in rows} == {("synced", "valid")}
