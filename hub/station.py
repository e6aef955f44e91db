"""Who is calling: the station, broker and Ente a pagoPA Node request names, checked.

The Node names our intermediary (idBrokerPA), one of its stations (idStation) and the Ente the
request is for (idPA); the notice itself may belong to another Ente served by the same
station (qrCode/fiscalCode). ``load_station`` reads the configuration once (adapters may cache
it); ``check_caller`` is pure.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from hub.errors import DomainError
from hub.models import Ente, Intermediary, Station


class WrongCaller(DomainError):
    """The request names a broker, station or Ente this installation does not serve so."""


class WrongBroker(WrongCaller):
    code = "wrong_broker"


class WrongStation(WrongCaller):
    code = "wrong_station"


class WrongDomain(WrongCaller):
    code = "wrong_domain"


@dataclass(frozen=True)
class EnteInfo:
    id: int
    fiscal_code: str
    name: str
    office: str | None


@dataclass(frozen=True)
class StationInfo:
    station_code: str
    broker_code: str
    primitive_version: int
    enti: dict[str, EnteInfo]  # by fiscal code


def load_station(session: Session, station_code: str) -> StationInfo | None:
    """The station with this code and the Enti it serves, or None."""
    station = session.scalars(
        sa.select(Station).where(Station.station_code == station_code)
        .options(selectinload(Station.enti), selectinload(Station.intermediary))
    ).one_or_none()
    if station is None:
        return None
    return StationInfo(
        station_code=station.station_code, broker_code=station.intermediary.broker_code,
        primitive_version=station.primitive_version,
        enti={e.fiscal_code: EnteInfo(e.id, e.fiscal_code, e.name, e.office)
              for e in station.enti},
    )


def broker_exists(session: Session, broker_code: str) -> bool:
    return session.scalar(
        sa.select(sa.func.count()).select_from(Intermediary)
        .where(Intermediary.broker_code == broker_code)
    ) > 0


def check_caller(station: StationInfo | None, *, id_pa: str, id_broker: str,
                 id_station: str, known_broker: bool) -> EnteInfo:
    """Return the Ente ``id_pa`` if the (broker, station, Ente) triple is one we serve.

    Raises WrongBroker if ``id_broker`` is not an intermediary of ours (``known_broker`` says
    whether it is), WrongStation if the station is unknown or belongs to another broker, and
    WrongDomain if the station does not serve ``id_pa``.
    """
    if station is None or station.broker_code != id_broker:
        if not known_broker:
            raise WrongBroker(f"broker {id_broker} is not served here")
        raise WrongStation(f"station {id_station} is not a station of broker {id_broker}")
    ente = station.enti.get(id_pa)
    if ente is None:
        raise WrongDomain(f"Ente {id_pa} is not served by station {id_station}")
    return ente


def load_ente(session: Session, ente_id: int) -> Ente:
    ente = session.get(Ente, ente_id)
    assert ente is not None
    return ente
