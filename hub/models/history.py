"""Support's view of a payment: every state transition, and anomalies to look at."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, UTCDateTime, utcnow


class StateTransition(Base):
    """One applied PaymentFlow event, written in the same transaction as the change."""

    __tablename__ = "state_transition"

    id: Mapped[int] = mapped_column(primary_key=True)
    option_id: Mapped[int] = mapped_column(
        sa.ForeignKey("payment_option.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[str] = mapped_column(sa.String(32))
    from_state: Mapped[str] = mapped_column(sa.String(16))
    to_state: Mapped[str] = mapped_column(sa.String(16))
    cause: Mapped[str] = mapped_column(sa.String(200))  # "soap:paSendRT:<receiptId>", "user:42"
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Anomaly(Base):
    """Something support staff must look at: money taken for a cancelled notice, a double
    payment (refund case), a Stand-In receipt, a receipt for an unknown notice, ..."""

    __tablename__ = "anomaly"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(32), index=True)
    ente_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ente.id"), index=True)
    option_id: Mapped[int | None] = mapped_column(sa.ForeignKey("payment_option.id"), index=True)
    receipt_pk: Mapped[int | None] = mapped_column(sa.ForeignKey("receipt.id"))
    # reconciliation's anomalies name the flow or the bank credit they are about
    flow_pk: Mapped[int | None] = mapped_column(sa.ForeignKey("reporting_flow.id"), index=True)
    credit_pk: Mapped[int | None] = mapped_column(sa.ForeignKey("bank_credit.id"), index=True)
    detail: Mapped[str] = mapped_column(sa.String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolution_note: Mapped[str | None] = mapped_column(sa.Text)
    resolved_by: Mapped[str | None] = mapped_column(sa.String(100))  # "ops:<username>"
