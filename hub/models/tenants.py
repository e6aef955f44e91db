"""Tenants: the intermediary (broker), its stations, the Enti they serve, and their services."""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, object_session, relationship

from hub.db import Base, JSONType, UTCDateTime, utcnow
from hub.errors import Conflict


class PrimitiveVersion(enum.IntEnum):
    V1 = 1  # paGetPayment / paSendRT
    V2 = 2  # paGetPaymentV2 / paSendRTV2


class ServiceKind(enum.StrEnum):
    PRECOMPUTED = "precomputed"  # the Ente loads the debt beforehand
    SPONTANEOUS = "spontaneous"  # the payer's form data create the debt


station_ente = sa.Table(
    "station_ente",
    Base.metadata,
    sa.Column("station_id", sa.ForeignKey("station.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("ente_id", sa.ForeignKey("ente.id", ondelete="CASCADE"), primary_key=True),
)


class Intermediary(Base):
    """A pagoPA technology intermediary (``idBrokerPA``)."""

    __tablename__ = "intermediary"

    id: Mapped[int] = mapped_column(primary_key=True)
    broker_code: Mapped[str] = mapped_column(sa.String(35), unique=True)
    name: Mapped[str] = mapped_column(sa.String(140))
    stations: Mapped[list[Station]] = relationship(back_populates="intermediary")


class Station(Base):
    """A station registered on the Node (``idStation``) and the Enti it serves."""

    __tablename__ = "station"

    id: Mapped[int] = mapped_column(primary_key=True)
    station_code: Mapped[str] = mapped_column(sa.String(35), unique=True)
    intermediary_id: Mapped[int] = mapped_column(sa.ForeignKey("intermediary.id"))
    primitive_version: Mapped[int] = mapped_column(sa.SmallInteger, default=PrimitiveVersion.V2)
    # issue 15 (activation): a station of pagoPA's test environment; its payments are tests
    test: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # administration (issue 15): the station's pagoPA credentials (password of nodeForPa
    # calls, subscription key), kept as issued because calls need them; shown masked
    password: Mapped[str | None] = mapped_column(sa.String(64))
    subscription_key: Mapped[str | None] = mapped_column(sa.String(128))
    intermediary: Mapped[Intermediary] = relationship(back_populates="stations")
    enti: Mapped[list[Ente]] = relationship(secondary=station_ente, back_populates="stations")

    __table_args__ = (sa.CheckConstraint("primitive_version IN (1, 2)", name="primitive_version"),)


class Ente(Base):
    """An Ente creditore (EC), identified on pagoPA by its 11-digit fiscal code."""

    __tablename__ = "ente"

    id: Mapped[int] = mapped_column(primary_key=True)
    fiscal_code: Mapped[str] = mapped_column(sa.String(11), unique=True)
    name: Mapped[str] = mapped_column(sa.String(140))
    office: Mapped[str | None] = mapped_column(sa.String(140))
    referente_name: Mapped[str | None] = mapped_column(sa.String(140))
    referente_email: Mapped[str | None] = mapped_column(sa.String(256))
    technical_contact_name: Mapped[str | None] = mapped_column(sa.String(140))
    technical_contact_email: Mapped[str | None] = mapped_column(sa.String(256))
    iban: Mapped[str | None] = mapped_column(sa.String(35))
    postal_iban: Mapped[str | None] = mapped_column(sa.String(35))
    cbill_code: Mapped[str | None] = mapped_column(sa.String(5))
    segregation_code: Mapped[str] = mapped_column(sa.String(2))
    # issue 15 (activation): False while the Ente is active in test only (an activation
    # request configured it in test); Enti created otherwise, and all earlier ones, are live
    production: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    # PNG or JPEG printed in the notice's header (hub.printing.data.logo_problem says what fits)
    logo: Mapped[bytes | None] = mapped_column(sa.LargeBinary, deferred=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # administration (issue 15): the referente's surname and phone, the contacts' phones and
    # the support contact
    referente_surname: Mapped[str | None] = mapped_column(sa.String(140))
    referente_phone: Mapped[str | None] = mapped_column(sa.String(32))
    technical_contact_phone: Mapped[str | None] = mapped_column(sa.String(32))
    support_contact_name: Mapped[str | None] = mapped_column(sa.String(140))
    support_contact_email: Mapped[str | None] = mapped_column(sa.String(256))
    support_contact_phone: Mapped[str | None] = mapped_column(sa.String(32))

    stations: Mapped[list[Station]] = relationship(secondary=station_ente, back_populates="enti")
    services: Mapped[list[PaymentService]] = relationship(back_populates="ente")

    __table_args__ = (sa.CheckConstraint("length(segregation_code) = 2", name="segregation_code"),)

    @property
    def ibans(self) -> set[str]:
        """The accounts registered for this Ente (transfers may only credit these)."""
        accounts = {self.iban, self.postal_iban}
        accounts.update(s.default_iban for s in self.services)
        return {a for a in accounts if a}


class PaymentService(Base):
    """A kind of payment an Ente collects (school canteen, fines, ...)."""

    __tablename__ = "payment_service"

    id: Mapped[int] = mapped_column(primary_key=True)
    ente_id: Mapped[int] = mapped_column(sa.ForeignKey("ente.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(sa.String(35))
    label: Mapped[str] = mapped_column(sa.String(140))
    taxonomy: Mapped[str] = mapped_column(sa.String(140))  # pagoPA transfer category
    default_iban: Mapped[str | None] = mapped_column(sa.String(35))
    kind: Mapped[ServiceKind] = mapped_column(
        sa.Enum(
            ServiceKind,
            values_callable=lambda e: [m.value for m in e],
            native_enum=False,
            length=16,
            name="service_kind",
        )
    )
    form: Mapped[dict | None] = mapped_column(JSONType)
    active: Mapped[bool] = mapped_column(default=True)
    # issue 15 (activation): False while the service is active in test only
    production: Mapped[bool] = mapped_column(default=True, server_default=sa.true())

    ente: Mapped[Ente] = relationship(back_populates="services")

    __table_args__ = (sa.UniqueConstraint("ente_id", "code"),)


class IuvCounter(Base):
    """The next IUV base (13 digits) to hand out for an Ente: one row per Ente."""

    __tablename__ = "iuv_counter"

    ente_id: Mapped[int] = mapped_column(
        sa.ForeignKey("ente.id", ondelete="CASCADE"), primary_key=True
    )
    next_value: Mapped[int] = mapped_column(sa.BigInteger, default=1)


class StandInProbe(Base):
    """pagoPA's Stand-In manager probing a station (a paVerify for notice 000000000000000000
    of EC 00000000000): it does so only while it holds the station in Stand-In. Keyed by the
    station code as sent, which may be the literal placeholder ``{idStation}``."""

    __tablename__ = "standin_probe"

    station_code: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    broker_code: Mapped[str] = mapped_column(sa.String(64))
    first_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    count: Mapped[int] = mapped_column(sa.Integer)


class SegregationCodeTaken(Conflict):
    """Another Ente served by the same station already uses this segregation code (the notice
    numbers' digits 2-3 that tell apart the Enti a station serves). Checked in code on every
    insert and change of an Ente, its stations included (a constraint cannot span the link
    table). Enti on different stations may share a code: a notice number is unique per Ente,
    and an intermediary of hundreds of Enti (issue 15) spreads them over its stations."""

    code = "segregation_code_taken"


def _segregation_code_free(_mapper: object, connection: sa.Connection, ente: Ente) -> None:
    session = object_session(ente)
    mine = {id(s) for s in ente.stations}
    pending = [
        other.fiscal_code
        for other in (session.new if session is not None else ())
        if isinstance(other, Ente)
        and other is not ente
        and other.segregation_code == ente.segregation_code
        and mine & {id(s) for s in other.stations}
    ]
    station_ids = [s.id for s in ente.stations if s.id is not None]
    taken = (
        pending[0]
        if pending
        else connection.scalar(
            sa.select(Ente.fiscal_code)
            .join(station_ente, station_ente.c.ente_id == Ente.id)
            .where(station_ente.c.station_id.in_(station_ids))
            .where(Ente.segregation_code == ente.segregation_code)
            .where(Ente.fiscal_code != ente.fiscal_code)
            .limit(1)
        )
        if station_ids
        else None
    )
    if taken is not None:
        raise SegregationCodeTaken(
            f"segregation code {ente.segregation_code} is already used by Ente {taken} on the "
            f"same station; choose another for Ente {ente.fiscal_code}"
        )


sa.event.listen(Ente, "before_insert", _segregation_code_free)
sa.event.listen(Ente, "before_update", _segregation_code_free)
