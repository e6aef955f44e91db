"""Expected payments: debt position -> payment options (one notice each) -> transfers."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.db import Base, JSONType, UTCDateTime, utcnow
from workflows.payment import INITIAL_STATE, PositionStatus


class DebtPosition(Base):
    """What a debtor owes an Ente, identified by the Ente's IUPD."""

    __tablename__ = "debt_position"

    id: Mapped[int] = mapped_column(primary_key=True)
    ente_id: Mapped[int] = mapped_column(sa.ForeignKey("ente.id"), index=True)
    service_id: Mapped[int | None] = mapped_column(sa.ForeignKey("payment_service.id"))
    iupd: Mapped[str] = mapped_column(sa.String(64))
    debtor_type: Mapped[str] = mapped_column(sa.String(1))  # F natural, G legal person
    debtor_fiscal_code: Mapped[str] = mapped_column(sa.String(16), index=True)
    debtor_name: Mapped[str] = mapped_column(sa.String(140))
    debtor_street: Mapped[str | None] = mapped_column(sa.String(70))
    debtor_civic_number: Mapped[str | None] = mapped_column(sa.String(16))
    debtor_postal_code: Mapped[str | None] = mapped_column(sa.String(16))
    debtor_city: Mapped[str | None] = mapped_column(sa.String(35))
    debtor_province: Mapped[str | None] = mapped_column(sa.String(2))
    debtor_nation: Mapped[str | None] = mapped_column(sa.String(2))
    debtor_email: Mapped[str | None] = mapped_column(sa.String(256))
    description: Mapped[str] = mapped_column(sa.String(140))
    valid_from: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    due_date: Mapped[dt.date | None] = mapped_column(sa.Date)
    status: Mapped[str] = mapped_column(sa.String(16), default=PositionStatus.DRAFT, index=True)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # the bulk load that created it, if any (notice batches can print "what that file loaded")
    bulk_load_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("bulk_load.id", ondelete="SET NULL"), index=True
    )

    options: Mapped[list[PaymentOption]] = relationship(
        back_populates="position", order_by="PaymentOption.id", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        sa.UniqueConstraint("ente_id", "iupd"),
        sa.CheckConstraint("debtor_type IN ('F', 'G')", name="debtor_type"),
    )


class PaymentOption(Base):
    """One notice number: a single payment or instalment n of m. Its ``status`` is driven
    only by workflows.payment.PaymentFlow, through hub.payments."""

    __tablename__ = "payment_option"

    id: Mapped[int] = mapped_column(primary_key=True)
    position_id: Mapped[int] = mapped_column(
        sa.ForeignKey("debt_position.id", ondelete="CASCADE"), index=True
    )
    ente_id: Mapped[int] = mapped_column(sa.ForeignKey("ente.id"))
    notice_number: Mapped[str] = mapped_column(sa.String(18))
    iuv: Mapped[str] = mapped_column(sa.String(35))
    amount_cents: Mapped[int] = mapped_column(sa.BigInteger)
    description: Mapped[str | None] = mapped_column(sa.String(140))
    due_date: Mapped[dt.date] = mapped_column(sa.Date)
    retention_date: Mapped[dt.date | None] = mapped_column(sa.Date)
    instalment_number: Mapped[int | None] = mapped_column(sa.SmallInteger)  # n of ...
    instalment_count: Mapped[int | None] = mapped_column(sa.SmallInteger)  # ... m; None = single
    status: Mapped[str] = mapped_column(sa.String(16), default=INITIAL_STATE, index=True)
    version: Mapped[int] = mapped_column(default=1)
    activation_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    paid_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    paid_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    position: Mapped[DebtPosition] = relationship(back_populates="options")
    transfers: Mapped[list[Transfer]] = relationship(
        back_populates="option", order_by="Transfer.id_transfer", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        sa.UniqueConstraint("ente_id", "notice_number"),
        sa.UniqueConstraint("ente_id", "iuv"),
        sa.CheckConstraint("amount_cents > 0", name="amount_positive"),
        sa.CheckConstraint(
            "(instalment_number IS NULL AND instalment_count IS NULL) OR "
            "(instalment_number BETWEEN 1 AND instalment_count)",
            name="instalment",
        ),
    )

    @property
    def expires_on(self) -> dt.date | None:
        """The last day the notice can be paid (the retention date); None = no limit."""
        return self.retention_date

    @property
    def is_instalment(self) -> bool:
        return self.instalment_count is not None


class Transfer(Base):
    """A share of a payment option credited to one beneficiary (idTransfer 1..5)."""

    __tablename__ = "transfer"

    id: Mapped[int] = mapped_column(primary_key=True)
    option_id: Mapped[int] = mapped_column(
        sa.ForeignKey("payment_option.id", ondelete="CASCADE"), index=True
    )
    id_transfer: Mapped[int] = mapped_column(sa.SmallInteger)
    beneficiary_fiscal_code: Mapped[str] = mapped_column(sa.String(11))
    iban: Mapped[str | None] = mapped_column(sa.String(35))
    postal_iban: Mapped[str | None] = mapped_column(sa.String(35))
    stamp_type: Mapped[str | None] = mapped_column(sa.String(2))  # marca da bollo digitale
    stamp_hash: Mapped[str | None] = mapped_column(sa.String(72))
    stamp_province: Mapped[str | None] = mapped_column(sa.String(2))
    amount_cents: Mapped[int] = mapped_column(sa.BigInteger)
    remittance_information: Mapped[str] = mapped_column(sa.String(140))
    category: Mapped[str] = mapped_column(sa.String(140))
    metadata_entries: Mapped[list | None] = mapped_column("metadata", JSONType)

    option: Mapped[PaymentOption] = relationship(back_populates="transfers")

    __table_args__ = (
        sa.UniqueConstraint("option_id", "id_transfer"),
        sa.CheckConstraint("id_transfer BETWEEN 1 AND 5", name="id_transfer"),
        sa.CheckConstraint("amount_cents > 0", name="amount_positive"),
        sa.CheckConstraint(
            "(iban IS NOT NULL) OR (postal_iban IS NOT NULL) OR (stamp_hash IS NOT NULL)",
            name="credit_target",
        ),
    )
