"""Activation requests on PostgreSQL: open, move with history, test and production, receipts
marked as tests, the referente's link written to the outbox, the four-month share."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal

import pytest
import sqlalchemy as sa

from hub import payments
from hub.actor_names import SEND_ACTIVATION_LINK
from hub.calendar import BusinessCalendar
from hub.clock import day_start
from hub.errors import Conflict
from hub.models import AuditEvent, OutboxMessage, PaymentService, Station
from hub.onboarding import requests
from hub.onboarding.environments import NoStation
from hub.onboarding.sla import four_month_share
from hub.sla import contract
from tests.factories import make_ente, make_position, make_receipt
from workflows.activation import RequestState as S

pytestmark = pytest.mark.pg
ROME = zoneinfo.ZoneInfo("Europe/Rome")


def at(y: int, m: int, d: int, h: int = 9) -> dt.datetime:
    return dt.datetime(y, m, d, h, tzinfo=ROME)


@pytest.fixture
def new_ente(db):
    """An Ente of the intermediary, not yet activated, and a test station of the same
    intermediary."""
    ente = make_ente(db)
    ente.referente_name, ente.referente_email = "Anna Rossi", "anna.rossi@comune.example.it"
    production = ente.stations[0]
    test_station = Station(
        station_code=production.station_code[:-2] + "90",
        intermediary=production.intermediary,
        test=True,
    )
    db.add(test_station)
    ente.stations.remove(production)
    db.flush()
    return ente


def _outbox(db) -> list[OutboxMessage]:
    return list(
        db.scalars(sa.select(OutboxMessage).where(OutboxMessage.actor_name == SEND_ACTIVATION_LINK))
    )


def test_an_activation_goes_through_test_to_production_with_its_history(db, new_ente):
    request = requests.open_request(
        db,
        ente=new_ente,
        kind="activation",
        subject="Attivazione",
        actor="cli",
        now=at(2026, 11, 2),
    )
    step = requests.move(db, request.id, "configure_test", actor="ops:alice", now=at(2026, 11, 3))
    assert step.station_code.endswith("_90")
    assert new_ente.production is False  # active in test only
    assert [s.test for s in new_ente.stations] == [True]
    assert [m.args for m in _outbox(db)] == [{"step_id": step.id}]
    requests.move(
        db, request.id, "confirm_test", actor="referente:x", ente_side=True, now=at(2026, 11, 4)
    )
    prod = requests.move(
        db, request.id, "configure_production", actor="ops:alice", note="go", now=at(2026, 11, 5)
    )
    assert new_ente.production is True
    assert sorted(s.test for s in new_ente.stations) == [False, True]
    assert len(_outbox(db)) == 2 and _outbox(db)[1].args == {"step_id": prod.id}
    requests.move(
        db,
        request.id,
        "confirm_production",
        actor="referente:x",
        ente_side=True,
        now=at(2026, 11, 6),
    )
    requests.move(db, request.id, "close", actor="cli", now=at(2026, 11, 9))
    db.expire_all()
    request = requests.get_request(db, request.id)
    assert request.state == S.CLOSED
    assert [(s.event, s.from_state, s.to_state, s.actor) for s in request.steps] == [
        ("open", None, "received", "cli"),
        ("configure_test", "received", "configured_test", "ops:alice"),
        ("confirm_test", "configured_test", "confirmed_test", "referente:x"),
        ("configure_production", "confirmed_test", "configured_production", "ops:alice"),
        ("confirm_production", "configured_production", "confirmed_production", "referente:x"),
        ("close", "confirmed_production", "closed", "cli"),
    ]
    assert request.steps[3].note == "go"
    assert request.steps[1].at == at(2026, 11, 3)
    actions = db.scalars(
        sa.select(AuditEvent.action).where(AuditEvent.target == f"activation_request:{request.id}")
    )
    assert list(actions)[:2] == ["activation.open", "activation.configure_test"]


def test_an_incomplete_request_waits_for_the_ente_at_once(db, new_ente):
    request = requests.open_request(
        db, ente=new_ente, kind="activation", subject="x", actor="cli", complete=False
    )
    assert request.state == S.WAITING_ENTE and request.paused_from == S.RECEIVED
    assert requests.allowed_events(request, ente_side=True) == ("resume", "cancel")
    requests.move(db, request.id, "resume", actor="api:abc", ente_side=True, note="here it is")
    assert request.state == S.RECEIVED and request.paused_from is None


def test_the_ente_cannot_take_the_intermediarys_steps(db, new_ente):
    request = requests.open_request(db, ente=new_ente, kind="activation", subject="x", actor="cli")
    with pytest.raises(requests.StepNotAllowed, match="the Ente cannot"):
        requests.move(db, request.id, "configure_test", actor="api:abc", ente_side=True)
    with pytest.raises(requests.StepNotAllowed, match="cannot 'close'"):
        requests.move(db, request.id, "close", actor="cli")
    assert request.state == S.RECEIVED and len(request.steps) == 1


def test_configuring_needs_a_station_of_that_environment(db, new_ente):
    request = requests.open_request(db, ente=new_ente, kind="activation", subject="x", actor="cli")
    production_code = db.scalar(sa.select(Station.station_code).where(Station.test.is_(False)))
    with pytest.raises(NoStation, match="not a test station"):
        requests.move(db, request.id, "configure_test", actor="cli", station_code=production_code)
    db.execute(sa.update(Station).values(test=False))
    db.expire_all()
    with pytest.raises(NoStation, match="no test station"):
        requests.move(db, request.id, "configure_test", actor="cli")


def test_a_service_can_be_active_in_test_only(db, new_ente):
    service = PaymentService(
        ente=new_ente, code="TARI", label="TARI", taxonomy="9/0101100IM/", kind="precomputed"
    )
    db.add(service)
    db.flush()
    request = requests.open_request(
        db, ente=new_ente, kind="activation", subject="TARI", actor="cli", service_code="TARI"
    )
    requests.move(db, request.id, "configure_test", actor="cli")
    assert service.production is False and new_ente.production is True


def test_receipts_of_an_ente_in_test_are_marked_as_tests(db, new_ente):
    request = requests.open_request(db, ente=new_ente, kind="activation", subject="x", actor="cli")
    requests.move(db, request.id, "configure_test", actor="cli")
    option = make_position(db, new_ente).options[0]
    outcome = payments.store_receipt(db, make_receipt(option, new_ente.fiscal_code))
    assert outcome.receipt.test is True
    new_ente.production = True
    second = make_position(db, new_ente, iupd="second").options[0]
    outcome = payments.store_receipt(
        db, make_receipt(second, new_ente.fiscal_code, receipt_id="r-2")
    )
    assert outcome.receipt.test is False


def test_an_ente_that_collected_real_money_needs_a_change_request(db, new_ente):
    option = make_position(db, new_ente).options[0]
    payments.store_receipt(db, make_receipt(option, new_ente.fiscal_code))
    with pytest.raises(Conflict, match="change request"):
        requests.open_request(db, ente=new_ente, kind="activation", subject="x", actor="cli")
    change = requests.open_request(
        db, ente=new_ente, kind="change", subject="new IBAN", actor="cli"
    )
    requests.move(db, change.id, "configure_test", actor="cli")
    assert new_ente.production is True  # a change tried in test leaves the Ente live


def _served(db, ente, start, steps):
    request = requests.open_request(
        db, ente=ente, kind="change", subject="x", actor="cli", now=start
    )
    for event, when in steps:
        requests.move(db, request.id, event, actor="cli", now=when)
    return request


def test_the_four_month_share(db, new_ente):
    flow = ["configure_test", "confirm_test", "configure_production", "confirm_production"]
    # served in 4 working days, in September
    _served(
        db,
        new_ente,
        at(2026, 9, 1),
        zip(flow, [at(2026, 9, 2), at(2026, 9, 3), at(2026, 9, 4), at(2026, 9, 7)], strict=True),
    )
    # served in 20 working days, in October: late
    _served(
        db,
        new_ente,
        at(2026, 10, 1),
        zip(
            flow,
            [at(2026, 10, 20), at(2026, 10, 21), at(2026, 10, 29), at(2026, 10, 30)],
            strict=True,
        ),
    )
    # 30 working days waiting for pagoPA, then served in 3: within target
    _served(
        db,
        new_ente,
        at(2026, 11, 2),
        zip(
            ["wait_pagopa", "resume", *flow],
            [
                at(2026, 11, 2),
                at(2026, 12, 14),
                at(2026, 12, 15),
                at(2026, 12, 15, 10),
                at(2026, 12, 16),
                at(2026, 12, 17),
            ],
            strict=True,
        ),
    )
    # still open at the end of the period, past its target: counted late
    _served(db, new_ente, at(2026, 11, 2), [])
    # still open, within target: not counted yet
    _served(db, new_ente, at(2026, 12, 28), [])
    # cancelled: not counted
    _served(db, new_ente, at(2026, 9, 1), [("cancel", at(2026, 12, 1))])
    # served in the next period: not counted here
    _served(
        db,
        new_ente,
        at(2026, 12, 30),
        zip(flow, [at(2027, 1, 4), at(2027, 1, 4), at(2027, 1, 5), at(2027, 1, 5)], strict=True),
    )

    share = four_month_share(db, dt.date(2026, 9, 1), now=at(2027, 2, 1))
    assert (share.served, share.within_target, share.open_late) == (3, 2, 1)
    assert share.share == Decimal("0.5000")
    assert len(share.late_ids) == 2
    previous = four_month_share(db, dt.date(2026, 5, 1), now=at(2027, 2, 1))
    assert previous.counted == 0 and previous.share is None
    # the SLA report's verdict for the same four months reads the same requests
    start, end = day_start(dt.date(2026, 9, 1)), day_start(dt.date(2027, 1, 1))
    verdicts = contract.verdicts(db, BusinessCalendar(), start, end, at(2027, 2, 1))
    figure = {v.key: v for v in verdicts}["activation"]
    assert (figure.count, figure.within) == (share.counted, share.within_target) == (4, 2)
    assert figure.status == "breached"


def test_a_deactivation_takes_the_ente_out_of_service_and_keeps_its_history(db, new_ente):
    activation = _served(
        db,
        new_ente,
        at(2026, 9, 1),
        [(e, at(2026, 9, 2)) for e in ("configure_test", "confirm_test", "configure_production")],
    )
    option = make_position(db, new_ente).options[0]
    assert sorted(s.test for s in new_ente.stations) == [False, True]
    leaving = requests.open_request(
        db, ente=new_ente, kind="deactivation", subject="Cessazione", actor="cli"
    )
    test_step = requests.move(db, leaving.id, "configure_test", actor="cli")
    assert test_step.station_code.endswith("_90")
    assert [s.test for s in new_ente.stations] == [False]
    requests.move(db, leaving.id, "confirm_test", actor="cli")
    requests.move(db, leaving.id, "configure_production", actor="cli")
    assert new_ente.stations == []
    assert new_ente.production is True  # a late receipt is real money, never a test
    db.expire_all()
    assert requests.get_request(db, activation.id).state == S.CONFIGURED_PRODUCTION
    assert db.get(type(option), option.id) is not None


def test_a_service_deactivation_stops_offering_it_in_production(db, new_ente):
    service = PaymentService(
        ente=new_ente, code="MENSA", label="Mensa", taxonomy="9/0201109SE/", kind="precomputed"
    )
    db.add(service)
    db.flush()
    leaving = requests.open_request(
        db, ente=new_ente, kind="deactivation", subject="x", actor="cli", service_code="MENSA"
    )
    requests.move(db, leaving.id, "configure_test", actor="cli")
    assert service.active is True
    requests.move(db, leaving.id, "confirm_test", actor="cli")
    requests.move(db, leaving.id, "configure_production", actor="cli")
    assert service.active is False and service in new_ente.services
