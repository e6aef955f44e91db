"""The ACA feed (hub.aca) against nodesim's ACA over HTTP: every request our client sends and
every answer it gets are checked against pagoPA's ``gpd-4-aca.json`` (openapi-core)."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from openapi_core import OpenAPI

from hub import aca, clock, payments
from hub.models import AcaSync, Anomaly, OutboxMessage
from hub.positions.status import refresh_status
from hub.positions.writer import cancel_position, create_position, replace_position
from nodesim.aca import BASE
from tests.factories import make_ente, make_receipt
from tests.hub.aca_support import KEY, CheckedSession, faults, load_contract, position_data, state

pytestmark = pytest.mark.pg


@pytest.fixture(scope="module")
def contract() -> OpenAPI:
    return load_contract("gpd-4-aca.json")


@pytest.fixture
def api(sim, contract):
    session = CheckedSession(contract, label=lambda path: path.removeprefix(BASE))
    return aca.AcaClient(sim.application_url.rstrip("/") + BASE, KEY, session=session)


def _sync_all(db, api) -> list[str]:
    """What the outbox delivers: one aca_sync_position per queued position."""
    aca.queue_out_of_step(db)
    db.flush()
    ids = [
        m.args["position_id"]
        for m in db.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.actor_name == aca.SYNC_ACTOR)
        )
        if m.processed_at is None
    ]
    db.execute(sa.delete(OutboxMessage).where(OutboxMessage.actor_name == aca.SYNC_ACTOR))
    return [aca.sync_position(db, api, i, max_attempts=3) for i in ids]


def test_create_update_pay_and_invalidate_follow_the_archive_with_every_transfer(db, sim, api):
    ente = make_ente(db)
    aca.set_enabled(db, ente, True)
    draft = create_position(db, ente, position_data("ACA-DRAFT"))
    position = create_position(db, ente, position_data("ACA-1"), publish=True)
    db.flush()
    assert _sync_all(db, api) == ["synced"]  # the draft is not ACA's business
    [held] = state(sim)["positions"]
    assert (held["iupd"], held["status"]) == ("ACA-1", "VALID")
    transfers = held["paymentOption"][0]["transfer"]
    assert [(t["amount"], t["organizationFiscalCode"]) for t in transfers] == [
        (2000, ente.fiscal_code),
        (1000, "00112233445"),
    ]
    assert _sync_all(db, api) == []  # in step: nothing queued

    notice = position.options[0].notice_number
    replace_position(
        db, ente, position, position_data("ACA-1", ("25.00", "10.00"), notice), cause="test"
    )
    db.flush()
    assert _sync_all(db, api) == ["synced"]
    [held] = state(sim)["positions"]
    assert held["paymentOption"][0]["amount"] == 3500

    option = position.options[0]
    payments.activate(db, ente, option.notice_number, requested_cents=3500, primitive="t")
    payments.store_receipt(db, make_receipt(option, ente.fiscal_code, receipt_id="r-aca-1"))
    refresh_status(db, position.id)  # the payment_status_changed actor's work
    db.flush()
    assert _sync_all(db, api) == ["synced"]
    assert state(sim)["positions"][0]["paid"] == [option.notice_number]
    assert api.session.sent[-1] == (
        "POST",
        f"/organizations/{ente.fiscal_code}/paymentoptions/paids/{option.notice_number}",
        200,
    )

    other = create_position(db, ente, position_data("ACA-2"), publish=True)
    db.flush()
    _sync_all(db, api)
    cancel_position(db, other, cause="test")
    db.flush()
    assert _sync_all(db, api) == ["synced"]
    states = {p["iupd"]: p["status"] for p in state(sim)["positions"]}
    assert states == {"ACA-1": "VALID", "ACA-2": "INVALID"}
    assert db.get(AcaSync, draft.id) is None


def test_a_lost_answer_or_a_second_delivery_changes_nothing(db, sim, api):
    ente = make_ente(db)
    aca.set_enabled(db, ente, True)
    position = create_position(db, ente, position_data("ACA-TWICE"), publish=True)
    db.flush()
    _sync_all(db, api)
    row = db.get(AcaSync, position.id)
    row.aca_state = "absent"  # as if ACA's 201 had been lost
    assert aca.sync_position(db, api, position.id, max_attempts=3) == "synced"
    assert [s for _, _, s in api.session.sent] == [201, 409, 200]  # create, exists: replace
    assert aca.sync_position(db, api, position.id, max_attempts=3) == "synced"
    assert len(state(sim)["positions"]) == 1


def test_failures_are_retried_with_backoff_then_dead_lettered(db, sim, api):
    ente = make_ente(db)
    aca.set_enabled(db, ente, True)
    position = create_position(db, ente, position_data("ACA-FAIL"), publish=True)
    db.flush()
    faults(sim, fail=100, status=500)
    fake = clock.FakeClock(clock.now())
    with clock.use(fake):
        assert _sync_all(db, api) == ["failed"]
        assert _sync_all(db, api) == []  # backing off
        fake.advance(aca.backoff(1))
        assert _sync_all(db, api) == ["failed"]
        fake.advance(aca.backoff(2))
        assert _sync_all(db, api) == ["dead"]
        fake.advance(dt.timedelta(days=1))
        assert _sync_all(db, api) == []  # dead: left for support
    row = db.get(AcaSync, position.id)
    assert row.attempts == 3 and "500" in row.last_error
    anomaly = db.scalar(sa.select(Anomaly).where(Anomaly.kind == "aca_sync_dead"))
    assert anomaly is not None and "ACA-FAIL" in anomaly.detail
    faults(sim, fail=0)
    assert aca.requeue(db, position.id)
    db.execute(sa.delete(OutboxMessage).where(OutboxMessage.actor_name == aca.SYNC_ACTOR))
    assert aca.sync_position(db, api, position.id, max_attempts=3) == "synced"
    assert state(sim)["positions"][0]["status"] == "VALID"


def test_throttling_is_retried_and_the_switch_keeps_an_ente_out(db, sim, api):
    on, off = make_ente(db), make_ente(db)
    aca.set_enabled(db, on, True)
    aca.set_enabled(db, off, False)
    create_position(db, on, position_data("ACA-ON"), publish=True)
    create_position(db, off, position_data("ACA-OFF"), publish=True)
    db.flush()
    faults(sim, fail=1, status=429)
    assert _sync_all(db, api) == ["failed"]
    with clock.use(clock.FakeClock(clock.now() + aca.backoff(1))):
        assert _sync_all(db, api) == ["synced"]
    assert [p["iupd"] for p in state(sim)["positions"]] == ["ACA-ON"]
    figures = aca.share(db)
    assert (figures.positions, figures.in_step, figures.share) == (1, 1, 1.0)
