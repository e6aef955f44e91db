"""Reporting-flow actors: the poll asks the simulator's nodeForPa (served over HTTP, read by the
real NodeClient) and fetches each new flow once; redelivered messages change nothing; the
follow-up webhooks are written; flows without credit are flagged by the periodic check."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import dramatiq
import pytest
import sqlalchemy as sa
from webtest.http import StopableWSGIServer

from actors import reporting as reporting_actors
from actors.middleware import current_settings, use_settings
from hub.models import (
    Anomaly,
    Ente,
    PaymentOption,
    ProcessedMessage,
    ReportingFlow,
    StateTransition,
    WebhookDelivery,
)
from hub.notify import webhooks
from nodesim.clock import SimClock
from nodesim.nodeforpa import NodeForPa
from nodesim.reporting import Flow, Ledger
from tests.factories import FLOW_CREATED, FLOW_DAY, entry, make_ente, paid_option

pytestmark = pytest.mark.pg
PASSWORD = "password01"


class SimNode:
    """The simulator's nodeForPa on loopback, with flows put in its ledger by the test."""

    def __init__(self, broker_code: str, station_code: str) -> None:
        self.ledger = Ledger(SimClock(frozen_at=FLOW_CREATED))
        self.node = NodeForPa(self.ledger, broker_code, station_code, PASSWORD)
        self.requests = 0
        self.server = StopableWSGIServer.create(self._app)
        self.url = self.server.application_url.rstrip("/") + "/nodeForPa"

    def _app(self, environ, start_response):
        self.requests += 1
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        start_response("200 OK", [("Content-Type", "text/xml; charset=utf-8")])
        return [self.node.handle(body)]

    def add(self, ente: Ente, entries, flow_id: str = "2026-11-27BCITITMM-0001") -> Flow:
        flow = Flow(
            id=flow_id,
            day=FLOW_DAY,
            created_at=FLOW_CREATED,
            psp_id="BCITITMM",
            psp_name="Banca di prova",
            psp_bic="BCITITMM",
            ec=ente.fiscal_code,
            ec_name=ente.name,
            iban="IT60X0542811101000000123456",
            settlement_id="RIV20261127BCITITMM0001",
            entries=entries,
        )
        self.ledger.flows[flow.id] = flow
        return flow


@pytest.fixture
def world(committed_factory):
    with committed_factory.begin() as session:
        ente = make_ente(session)
        webhooks.register_endpoint(
            session, ente, "http://127.0.0.1:9/hook", events=["payment.reported"]
        )
        paid = [paid_option(session, ente) for _ in range(2)]
        station = ente.stations[0]
        return {
            "ente": ente,
            "paid": paid,
            "station": station.station_code,
            "broker": station.intermediary.broker_code,
        }


@pytest.fixture
def sim_node(world, stub_broker) -> Iterator[SimNode]:
    node = SimNode(world["broker"], world["station"])
    use_settings(
        stub_broker,
        current_settings().replace(
            node_url=node.url,
            node_id_broker_pa=world["broker"],
            node_id_station=world["station"],
            node_password=PASSWORD,
        ),
    )
    yield node
    node.server.shutdown()


def drain(broker: dramatiq.Broker, worker: dramatiq.Worker, rounds: int = 3) -> None:
    """Run the default queue until quiet. The webhooks queue is not waited for: its
    deliveries to a closed port retry with backoff (what matters here is that they exist)."""
    for _ in range(rounds):  # each round's commits relay the next messages
        broker.join("default", timeout=20_000)


def count(factory, model, *where) -> int:
    with factory() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def test_the_poll_fetches_each_new_flow_once_and_reports_its_options(
    committed_factory, stub_broker, stub_worker, world, sim_node
):
    ente = world["ente"]
    sim_node.add(ente, [entry(o, r) for o, r in world["paid"]])

    stub_broker.get_actor(reporting_actors.POLL_ACTOR).send()
    drain(stub_broker, stub_worker)

    with committed_factory() as session:
        flow = session.scalars(sa.select(ReportingFlow)).one()
        assert (flow.flow_id, flow.status, flow.computed_count) == (
            "2026-11-27BCITITMM-0001",
            "received",
            2,
        )
        ids = [o.id for o, _ in world["paid"]]
        statuses = session.scalars(
            sa.select(PaymentOption.status).where(PaymentOption.id.in_(ids))
        ).all()
        assert statuses == ["reported", "reported"]
        deliveries = session.scalars(sa.select(WebhookDelivery.event_type)).all()
        assert sorted(deliveries) == ["payment.reported", "payment.reported"]
    requests = sim_node.requests  # one list, one flow

    stub_broker.get_actor(reporting_actors.POLL_ACTOR).send()
    drain(stub_broker, stub_worker)

    assert sim_node.requests == requests + 1  # listed again, not fetched again
    assert count(committed_factory, ReportingFlow) == 1
    assert count(committed_factory, StateTransition, StateTransition.event == "report") == 2


def test_a_redelivered_fetch_message_changes_nothing(
    committed_factory, stub_broker, stub_worker, world, sim_node
):
    ente = world["ente"]
    flow = sim_node.add(ente, [entry(o, r) for o, r in world["paid"]])
    message_id = reporting_actors.fetch_message_id(
        ente.fiscal_code, flow.id, FLOW_CREATED.replace(tzinfo=None)
    )
    for _ in range(2):
        stub_broker.enqueue(
            dramatiq.Message(
                queue_name="default",
                actor_name=reporting_actors.FETCH_ACTOR,
                args=(),
                kwargs={"ec_fiscal_code": ente.fiscal_code, "flow_id": flow.id},
                options={},
                message_id=message_id,
            )
        )
        drain(stub_broker, stub_worker)

    assert count(committed_factory, ReportingFlow) == 1
    assert count(committed_factory, StateTransition, StateTransition.event == "report") == 2
    assert (
        count(committed_factory, ProcessedMessage, ProcessedMessage.message_id == message_id) == 1
    )


def test_a_flow_the_node_does_not_know_is_flagged_once_and_not_retried(
    committed_factory, stub_broker, stub_worker, world, sim_node
):
    ente = world["ente"]
    stub_broker.get_actor(reporting_actors.FETCH_ACTOR).send(
        ec_fiscal_code=ente.fiscal_code, flow_id="2026-11-27NOSUCHFLOW-0001"
    )
    drain(stub_broker, stub_worker)

    with committed_factory() as session:
        anomaly = session.scalars(sa.select(Anomaly).where(Anomaly.kind == "fdr_refused")).one()
        assert anomaly.ente_id == ente.id and "NOSUCHFLOW" in anomaly.detail
    assert count(committed_factory, ReportingFlow) == 0


def test_a_flow_refused_at_fetch_is_not_fetched_again_by_the_next_polls(
    committed_factory, stub_broker, stub_worker, world, sim_node
):
    ente = world["ente"]
    option, rid = world["paid"][0]
    sim_node.add(ente, [entry(option, rid, code="0")])
    original = Flow.xml
    Flow.xml = lambda self: original(self).replace(
        b"<pay_i:versioneOggetto>1.0<",  # type: ignore[method-assign]
        b"<pay_i:versioneOggetto>9.9<",
    )
    try:
        for _ in range(2):
            stub_broker.get_actor(reporting_actors.POLL_ACTOR).send()
            drain(stub_broker, stub_worker)
    finally:
        Flow.xml = original  # type: ignore[method-assign]

    assert count(committed_factory, ReportingFlow) == 0
    assert count(committed_factory, Anomaly, Anomaly.kind == "fdr_refused") == 1


def test_the_periodic_check_flags_flows_without_credit(
    committed_factory, stub_broker, stub_worker, world, sim_node
):
    ente = world["ente"]
    sim_node.add(ente, [entry(o, r) for o, r in world["paid"]])
    stub_broker.get_actor(reporting_actors.POLL_ACTOR).send()
    drain(stub_broker, stub_worker)
    with committed_factory.begin() as session:
        session.execute(
            sa.update(ReportingFlow).values(
                received_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=4)
            )
        )

    for _ in range(2):
        stub_broker.get_actor(reporting_actors.CHECK_ACTOR).send()
        drain(stub_broker, stub_worker, rounds=1)

    assert count(committed_factory, Anomaly, Anomaly.kind == "flow_without_credit") == 1


def test_the_scheduler_polls_only_when_a_node_is_configured():
    from apscheduler.schedulers.background import BackgroundScheduler

    from actors.scheduler import add_jobs

    def jobs(settings):
        return {j.id: j for j in add_jobs(BackgroundScheduler(), None, None, settings).get_jobs()}

    configured = jobs(
        {"payhub.node_url": "http://node.invalid/nodeForPa", "payhub.reporting_poll_minutes": "5"}
    )
    assert configured["poll_reporting_flows"].trigger.interval == dt.timedelta(minutes=5)
    assert "check_flows_without_credit" in configured
    assert "poll_reporting_flows" not in jobs({})
    assert "poll_reporting_flows" not in jobs(
        {"payhub.node_url": "http://x", "payhub.reporting_poll_minutes": "0"}
    )
