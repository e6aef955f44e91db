"""Test and production: where an Ente (or one of its services) is served while its activation
request moves on, and which payments are tests.

pagoPA has a test environment (UAT) and production, each with its own registration of the
intermediary's stations. A station marked ``test`` is one of the test environment. An Ente
active in test only (``Ente.production`` false) or a service active in test only
(``PaymentService.production`` false) collects no real money: every receipt for it, and
every receipt delivered through a test station, is stored with ``test`` set, and the dashboard
says so. Configuring a request in test links the Ente to a test station; configuring it in
production links it to a production station and puts the Ente (or service) in production. The
test station stays linked (later change requests are tried there); nothing is deleted.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.errors import Conflict, NotFound
from hub.models import (
    ActivationRequest,
    ActivationStep,
    Ente,
    Intermediary,
    PaymentOption,
    PaymentService,
    Station,
)
from hub.models.positions import DebtPosition
from workflows.activation import PRODUCTION_EVENTS, RequestKind


class NoStation(Conflict):
    code = "no_station"


def pick_station(session: Session, ente: Ente, code: str | None, *, test: bool) -> Station:
    """The station named ``code`` (it must be of the environment asked), or: the one of that
    environment already serving the Ente, else the first one of the intermediary."""
    what = "test" if test else "production"
    if code:
        station = session.scalar(sa.select(Station).where(Station.station_code == code))
        if station is None:
            raise NotFound(f"no station {code}")
        if station.test != test:
            raise NoStation(f"station {code} is not a {what} station")
        return station
    serving = [s for s in ente.stations if s.test == test]
    if serving:
        return serving[0]
    station = session.scalar(sa.select(Station).where(Station.test == test).order_by(Station.id))
    if station is None:
        raise NoStation(f"there is no {what} station: register one first, or name one")
    return station


def configure(
    session: Session, request: ActivationRequest, station_code: str | None, *, test: bool
) -> Station | None:
    """Serve the request's Ente through a station of the environment (test or production). An
    activation configured in test makes the Ente (or its service) active in test only; one
    configured in production puts it in production. A deactivation takes it out of service
    instead (``deactivate``). Returns the station."""
    ente = request.ente
    if request.kind == RequestKind.DEACTIVATION:
        return deactivate(request, test=test)
    station = pick_station(session, ente, station_code, test=test)
    if station not in ente.stations:
        ente.stations.append(station)
    if request.kind == RequestKind.ACTIVATION:
        target: Ente | PaymentService = request.service or ente
        target.production = not test
    return station


def deactivate(request: ActivationRequest, *, test: bool) -> Station | None:
    """Take the request's Ente out of service in one environment: no station of it serves the
    Ente any more (the station answers for it no longer; a late receipt is still kept and
    settled, and flagged: ``deactivated_from_broker``). For one service: the service is no longer
    offered (``active`` false), once production is reached. The Ente, its positions, receipts
    and requests are kept. Returns the first station unlinked, if any."""
    if request.service is not None:
        if not test:
            request.service.active = False
        return None
    ente = request.ente
    leaving = [s for s in ente.stations if s.test == test]
    for station in leaving:
        ente.stations.remove(station)
    return leaving[0] if leaving else None


def deactivated_from_broker(
    session: Session,
    broker_code: str,
    *,
    fiscal_code: str | None = None,
    ente_id: int | None = None,
) -> Ente | None:
    """The Ente (by fiscal code or id) that a deactivation took out of production on a station
    of broker ``broker_code``: a receipt pagoPA still delivers for it is money taken, kept and
    settled as one through another station of ours (hub.payments flags it)."""
    statement = (
        sa.select(Ente)
        .join(ActivationRequest, ActivationRequest.ente_id == Ente.id)
        .join(ActivationStep, ActivationStep.request_id == ActivationRequest.id)
        .join(Station, Station.station_code == ActivationStep.station_code)
        .join(Intermediary, Intermediary.id == Station.intermediary_id)
        .where(
            ActivationRequest.kind == RequestKind.DEACTIVATION,
            ActivationStep.event.in_(PRODUCTION_EVENTS),
            Intermediary.broker_code == broker_code,
        )
        .limit(1)
    )
    if fiscal_code is not None:
        statement = statement.where(Ente.fiscal_code == fiscal_code)
    if ente_id is not None:
        statement = statement.where(Ente.id == ente_id)
    return session.scalars(statement).first()


_ASK = object()


def is_test_payment(
    session: Session,
    ente_production: bool | None,
    option_id: int | None,
    *,
    service_production: Any = _ASK,
) -> bool:
    """Whether a receipt for an Ente (its ``production`` flag; None: no Ente) and the option
    ``option_id`` is a test: the Ente or the option's service is active in test only.
    ``service_production``: the option's ``service_production_query()``, when the caller
    read it already (the receipt path reads it with the option's lock)."""
    if ente_production is None:
        return False
    if not ente_production:
        return True
    if option_id is None:
        return False
    if service_production is _ASK:
        service_production = session.scalar(
            sa.select(service_production_query()).where(PaymentOption.id == option_id)
        )
    return service_production is False


def service_production_query() -> sa.ScalarSelect[Any]:
    """A correlated scalar subquery (for PaymentOption's row): whether the option's service is
    in production (NULL without a service)."""
    return (
        sa.select(PaymentService.production)
        .join(DebtPosition, DebtPosition.service_id == PaymentService.id)
        .where(DebtPosition.id == PaymentOption.position_id)
        .correlate(PaymentOption)
        .scalar_subquery()
    )
