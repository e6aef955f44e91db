"""Who is calling: the station, broker and Ente a pagoPA Node request names, checked.

The Node names our intermediary (idBrokerPA), one of its stations (idStation) and the Ente the
request is for (idPA); the notice itself may belong to another Ente served by the same
station (qrCode/fiscalCode). ``load_station`` reads the configuration once (adapters may cache
it); ``check_caller`` is pure.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, selectinload

from hub.errors import DomainError
from hub.models import Ente, Intermediary, StandInProbe, Station
from hub.onboarding import environments  # issue 15: deactivated Enti


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
    test: bool = False  # issue 15: a station of pagoPA's test environment


def load_station(session: Session, station_code: str) -> StationInfo | None:
    """The station with this code and the Enti it serves, or None."""
    station = session.scalars(
        sa.select(Station)
        .where(Station.station_code == station_code)
        .options(selectinload(Station.enti), selectinload(Station.intermediary))
    ).one_or_none()
    if station is None:
        return None
    return StationInfo(
        station_code=station.station_code,
        broker_code=station.intermediary.broker_code,
        primitive_version=station.primitive_version,
        enti={e.fiscal_code: EnteInfo(e.id, e.fiscal_code, e.name, e.office) for e in station.enti},
        test=station.test,
    )


def broker_exists(session: Session, broker_code: str) -> bool:
    return (
        session.execute(
            sa.select(sa.func.count())
            .select_from(Intermediary)
            .where(Intermediary.broker_code == broker_code)
        ).scalar_one()
        > 0
    )


def check_caller(
    station: StationInfo | None, *, id_pa: str, id_broker: str, id_station: str, known_broker: bool
) -> EnteInfo:
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


def ente_of_broker(session: Session, broker_code: str, fiscal_code: str) -> EnteInfo | None:
    """The Ente ``fiscal_code`` if some station of broker ``broker_code`` serves it: a receipt
    for it delivered through another of the broker's stations (an Ente moved between stations,
    and pagoPA still delivers with the old one) is ours to keep."""
    ente = session.scalars(
        sa.select(Ente)
        .join(Ente.stations)
        .join(Station.intermediary)
        .where(Ente.fiscal_code == fiscal_code, Intermediary.broker_code == broker_code)
        .limit(1)
    ).one_or_none()
    if ente is None:  # issue 15: deactivated from a station of this broker, still ours to keep
        ente = environments.deactivated_from_broker(session, broker_code, fiscal_code=fiscal_code)
    return EnteInfo(ente.id, ente.fiscal_code, ente.name, ente.office) if ente else None


def load_ente(session: Session, ente_id: int) -> Ente:
    ente = session.get(Ente, ente_id)
    assert ente is not None
    return ente


def record_standin_probe(
    engine: sa.Engine, *, station_code: str, broker_code: str, now: dt.datetime
) -> None:
    """Count one Stand-In probe of pagoPA for ``station_code`` (as sent: it may be the
    literal ``{idStation}``), in a short transaction of its own. It is also the probe's round
    trip to the database: if this fails, the station is not ready to leave Stand-In."""
    values = {
        "station_code": station_code[:64],
        "broker_code": broker_code[:64],
        "first_at": now,
        "last_at": now,
        "count": 1,
    }
    insert = (pg_insert if engine.dialect.name == "postgresql" else sqlite_insert)(StandInProbe)
    statement = insert.values(**values).on_conflict_do_update(
        index_elements=["station_code"],
        set_={
            "last_at": now,
            "broker_code": values["broker_code"],
            "count": StandInProbe.__table__.c.count + 1,
        },
    )
    with engine.begin() as connection:
        connection.execute(statement)


# the SLA monitor's own availability probe sends pagoPA's Stand-In probe with these codes
# (sla_monitor.probes, issue 19): not pagoPA's, so not a Stand-In
SLA_PROBE_STATION_CODE = "PAYHUB-SLA-PROBE"


def standin_probes(session: Session) -> list[StandInProbe]:
    """Every station code pagoPA probed for Stand-In, the most recently probed first."""
    return list(
        session.scalars(
            sa.select(StandInProbe)
            .where(StandInProbe.station_code != SLA_PROBE_STATION_CODE)
            .order_by(StandInProbe.last_at.desc())
        )
    )


STANDIN_PROBE_EVERY = dt.timedelta(minutes=5)  # pagoPA's Stand-In manager's period


@dataclass(frozen=True)
class StandInStatus:
    """What an operator sees of Stand-In for one Ente: the last probe of a station serving it
    (or of the template's literal ``{idStation}``), whether pagoPA still probes (Stand-In on),
    and the Stand-In receipts since the two dates given."""

    last_probe_at: dt.datetime | None
    probed_station: str | None
    active: bool
    receipts_today: int
    receipts_month: int


def standin_status(
    session: Session, ente_id: int, *, today: dt.datetime, month: dt.datetime, now: dt.datetime
) -> StandInStatus:
    from hub.models import Receipt

    codes = list(
        session.scalars(
            sa.select(Station.station_code).join(Station.enti).where(Ente.id == ente_id)
        )
    )
    probe = session.scalars(
        sa.select(StandInProbe)
        .where(
            sa.or_(StandInProbe.station_code.in_(codes), StandInProbe.station_code == "{idStation}")
        )
        .order_by(StandInProbe.last_at.desc())
        .limit(1)
    ).one_or_none()

    def receipts(since: dt.datetime) -> int:
        return (
            session.scalar(
                sa.select(sa.func.count())
                .select_from(Receipt)
                .where(
                    Receipt.ente_id == ente_id,
                    Receipt.standin.is_(True),
                    Receipt.received_at >= since,
                )
            )
            or 0
        )

    return StandInStatus(
        last_probe_at=probe.last_at if probe else None,
        probed_station=probe.station_code if probe else None,
        active=probe is not None and now - probe.last_at <= 3 * STANDIN_PROBE_EVERY,
        receipts_today=receipts(today),
        receipts_month=receipts(month),
    )
