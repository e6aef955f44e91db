"""Refund cases: money pagoPA collected that the Ente must give back by bank transfer."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, UTCDateTime, utcnow
from workflows.refund import INITIAL_STATE


class RefundCase(Base):
    """One refund to carry out; its ``status`` is driven only by workflows.refund.RefundFlow,
    through hub.refunds. The steps' who and when are in the audit trail (target
    ``refund_case:<public_id>``)."""

    __tablename__ = "refund_case"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(36), unique=True)
    ente_id: Mapped[int] = mapped_column(sa.ForeignKey("ente.id"), index=True)
    option_id: Mapped[int | None] = mapped_column(sa.ForeignKey("payment_option.id"), index=True)
    receipt_pk: Mapped[int | None] = mapped_column(sa.ForeignKey("receipt.id"), index=True)
    # the anomaly that opened it (one case per anomaly), None for a citizen's request
    anomaly_id: Mapped[int | None] = mapped_column(sa.ForeignKey("anomaly.id"), unique=True)
    reason: Mapped[str] = mapped_column(sa.String(32))  # workflows.refund.RefundReason
    status: Mapped[str] = mapped_column(sa.String(24), default=INITIAL_STATE, index=True)
    amount_cents: Mapped[int] = mapped_column(sa.BigInteger)  # to give back
    note: Mapped[str | None] = mapped_column(sa.String(2000))  # what support knows
    opened_by: Mapped[str] = mapped_column(sa.String(100))  # "hub" or "ops:<username>"
    decided_by: Mapped[str | None] = mapped_column(sa.String(100))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    rejection_reason: Mapped[str | None] = mapped_column(sa.String(2000))
    payer_iban: Mapped[str | None] = mapped_column(sa.String(34))  # personal data
    ordered_by: Mapped[str | None] = mapped_column(sa.String(100))
    ordered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    bank_reference: Mapped[str | None] = mapped_column(sa.String(100))
    refunded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (sa.CheckConstraint("amount_cents > 0", name="amount_positive"),)
