"""FdR 3 through the actors and the stub broker: with ``payhub.reporting_source = fdr3`` the
poll lists the simulator's FdR 3 (served over HTTP, read by the real client), one
``fetch_fdr3_flow`` per revision stores the flow and matches it (paid -> reported); a receipt
the Node withheld is recovered by ``recover_receipts`` from the receipts service, then reported
by the same flow. Polling again fetches nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from webtest.http import StopableWSGIServer

from actors import reporting as reporting_actors
from actors.middleware import current_settings, use_settings
from hub.models import (
    FdrCheckpoint,
    PaymentOption,
    ReceiptRecovery,
    ReportingEntry,
    ReportingFlow,
    StateTransition,
)
from nodesim import fdr3 as simrest
from nodesim.app import make_app
from tests.actors.test_reporting_actors import count, drain
from tests.factories import make_ente, paid_option
from tests.hub.reconciliation.test_fdr3 import KEY, _withheld_payment, pay, published

pytestmark = pytest.mark.pg
FLOW = "2026-12-07BCITITMM-0001"


@pytest.fixture
def sim(stub_broker) -> Iterator[tuple[simrest.RestServices, object]]:
    """nodesim on loopback (FdR 3, the receipts service, the Node's payments), payhub's
    settings pointing at it."""
    app = make_app({"nodesim.background": "false", "nodesim.rest_key": KEY})
    server = StopableWSGIServer.create(app)
    base = server.application_url.rstrip("/")
    use_settings(
        stub_broker,
        current_settings().replace(
            reporting_source="fdr3",
            fdr3_url=base + "/fdr-org/service/v1",
            fdr3_key=KEY,
            receipts_url=base + "/bizevents/service/v1",
            receipts_key=KEY,
            pagopa_rest_max_wait_seconds=1,
        ),
    )
    yield app.registry["nodesim.rest"], app.registry["nodesim.node"]
    server.shutdown()


def test_fdr3_poll_fetch_store_match_and_recover_through_the_broker(
    committed_factory, stub_broker, stub_worker, sim
):
    rest, node = sim
    with committed_factory.begin() as session:
        ente = make_ente(session)
        paid = [paid_option(session, ente) for _ in range(2)]
        withheld, payment = _withheld_payment(session, node, ente)
        ec = ente.fiscal_code
        paid_ids = [o.id for o, _ in paid]
        items = [pay(n, o.iuv, r, "30.00") for n, (o, r) in enumerate(paid, 1)]
        items.append(pay(3, withheld.iuv, payment.receipt_id, "25.00"))
        withheld_id = withheld.id
    rest.add(published(ec, FLOW, items))

    stub_broker.get_actor(reporting_actors.POLL_ACTOR).send()
    drain(stub_broker, stub_worker)

    with committed_factory() as session:
        flow = session.scalars(sa.select(ReportingFlow)).one()
        assert (flow.flow_id, flow.source, flow.revision, flow.computed_count) == (
            FLOW,
            "fdr3",
            1,
            3,
        )
        statuses = session.scalars(
            sa.select(PaymentOption.status).where(PaymentOption.id.in_(paid_ids))
        ).all()
        assert statuses == ["reported", "reported"]
        matches = sorted(session.scalars(sa.select(ReportingEntry.match)))
        assert matches == ["matched", "matched", "no_receipt"]
        wanted = session.scalars(sa.select(ReceiptRecovery)).one()
        assert (wanted.iur, wanted.status) == (payment.receipt_id, "pending")
        # the checkpoint moves past a flow at the poll after it was stored
        assert session.scalars(sa.select(FdrCheckpoint.published_gt)).one() is None
    assert rest.calls == ["fdr.list", "fdr.flow", "fdr.payments"]  # over HTTP, once each

    # the withheld receipt, recovered from the receipts service, is then reported
    stub_broker.get_actor(reporting_actors.RECOVER_ACTOR).send()
    drain(stub_broker, stub_worker)
    with committed_factory() as session:
        assert session.get(PaymentOption, withheld_id).status == "reported"
        history = session.execute(
            sa.select(StateTransition.event, StateTransition.cause)
            .where(StateTransition.option_id == withheld_id)
            .order_by(StateTransition.id)
        ).all()
        assert history[-2:] == [
            ("receive_receipt", "recovered:bizevents"),
            ("report", f"fdr:{FLOW}"),
        ]
        assert session.scalars(sa.select(ReceiptRecovery.status)).one() == "recovered"

    # polling again: nothing new to fetch, the checkpoint now past the flow
    stub_broker.get_actor(reporting_actors.POLL_ACTOR).send()
    drain(stub_broker, stub_worker)
    assert count(committed_factory, ReportingFlow) == 1
    assert rest.calls.count("fdr.payments") == 1
    with committed_factory() as session:
        assert session.scalars(sa.select(FdrCheckpoint.published_gt)).one() is not None
