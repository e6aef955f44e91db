"""Activation and change requests of the Enti (workflows.activation drives their state), and
every step of each, with who took it, when and why."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.db import Base, UTCDateTime, utcnow
from hub.models.tenants import Ente, PaymentService
from workflows.activation import INITIAL_STATE


class ActivationRequest(Base):
    """One request of an Ente: to be put into service (``activation``) or to change what is
    in service (``change``), for the whole Ente or one of its services. Its ``state`` is driven
    only by workflows.activation.ActivationFlow, through hub.onboarding.requests."""

    __tablename__ = "activation_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16))  # a RequestKind value
    ente_id: Mapped[int] = mapped_column(sa.ForeignKey("ente.id", ondelete="CASCADE"), index=True)
    service_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("payment_service.id", ondelete="SET NULL")
    )
    subject: Mapped[str] = mapped_column(sa.String(200))
    state: Mapped[str] = mapped_column(sa.String(24), default=INITIAL_STATE, index=True)
    # the state a paused request goes back to on ``resume``
    paused_from: Mapped[str | None] = mapped_column(sa.String(24))
    opened_by: Mapped[str] = mapped_column(sa.String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    ente: Mapped[Ente] = relationship()
    service: Mapped[PaymentService | None] = relationship()
    steps: Mapped[list[ActivationStep]] = relationship(
        back_populates="request",
        order_by="ActivationStep.id",
        cascade="all, delete-orphan",
    )

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        sa.CheckConstraint("kind IN ('activation', 'change', 'deactivation')", name="kind"),
    )


class ActivationStep(Base):
    """One step of a request (its opening included: ``event`` ``open``), written in the same
    transaction as the change. ``actor`` is ``ops:<username>``, ``cli``, ``api:<key prefix>``
    or ``referente:<e-mail>``."""

    __tablename__ = "activation_step"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("activation_request.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[str] = mapped_column(sa.String(32))
    from_state: Mapped[str | None] = mapped_column(sa.String(24))
    to_state: Mapped[str] = mapped_column(sa.String(24))
    actor: Mapped[str] = mapped_column(sa.String(300))
    note: Mapped[str | None] = mapped_column(sa.Text)
    # the station put in service by a configure step
    station_code: Mapped[str | None] = mapped_column(sa.String(35))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    request: Mapped[ActivationRequest] = relationship(back_populates="steps")
