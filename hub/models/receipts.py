"""What the Node tells us about a payment: activations (paGetPayment) and receipts (paSendRT)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, JSONType, UTCDateTime, utcnow


class PaymentAttempt(Base):
    """One paGetPayment(V2): the Node activated the notice for a PSP until ``expires_at``."""

    __tablename__ = "payment_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    option_id: Mapped[int] = mapped_column(
        sa.ForeignKey("payment_option.id", ondelete="CASCADE"), index=True
    )
    primitive: Mapped[str] = mapped_column(sa.String(24))
    requested_cents: Mapped[int] = mapped_column(sa.BigInteger)
    answered_cents: Mapped[int] = mapped_column(sa.BigInteger)
    transfer_type: Mapped[str | None] = mapped_column(sa.String(16))
    attempted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Receipt(Base):
    """A receipt (paSendRT / V2) exactly as received, with the original XML.

    Unique per (EC fiscal code, receiptId): storing the same receipt twice is impossible.
    ``option_id`` is None when the notice is unknown (the receipt is still kept).
    """

    __tablename__ = "receipt"

    id: Mapped[int] = mapped_column(primary_key=True)
    ec_fiscal_code: Mapped[str] = mapped_column(sa.String(11))
    # the XSD puts no limit on receiptId: a receipt must never fail to store for its length
    receipt_id: Mapped[str] = mapped_column(sa.String(255))
    ente_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ente.id"))  # indexes below
    option_id: Mapped[int | None] = mapped_column(sa.ForeignKey("payment_option.id"), index=True)
    primitive_version: Mapped[int] = mapped_column(sa.SmallInteger)
    notice_number: Mapped[str] = mapped_column(sa.String(18), index=True)
    creditor_reference_id: Mapped[str] = mapped_column(sa.String(35))  # the IUV
    payment_amount_cents: Mapped[int] = mapped_column(sa.BigInteger)
    description: Mapped[str | None] = mapped_column(sa.String(140))
    company_name: Mapped[str | None] = mapped_column(sa.String(140))
    office_name: Mapped[str | None] = mapped_column(sa.String(140))
    outcome: Mapped[str] = mapped_column(sa.String(2), default="OK")
    debtor: Mapped[dict | None] = mapped_column(JSONType)  # ctSubject, personal data
    payer: Mapped[dict | None] = mapped_column(JSONType)
    debtor_fiscal_code: Mapped[str | None] = mapped_column(sa.String(35), index=True)
    payer_fiscal_code: Mapped[str | None] = mapped_column(sa.String(35))
    id_psp: Mapped[str | None] = mapped_column(sa.String(35))
    psp_fiscal_code: Mapped[str | None] = mapped_column(sa.String(70))
    psp_vat_number: Mapped[str | None] = mapped_column(sa.String(20))
    psp_company_name: Mapped[str | None] = mapped_column(sa.String(140))
    id_channel: Mapped[str | None] = mapped_column(sa.String(35))
    channel_description: Mapped[str | None] = mapped_column(sa.String(140))
    payment_method: Mapped[str | None] = mapped_column(sa.String(35))
    fee_cents: Mapped[int | None] = mapped_column(sa.BigInteger)
    primary_ci_incurred_fee_cents: Mapped[int | None] = mapped_column(sa.BigInteger)
    id_bundle: Mapped[str | None] = mapped_column(sa.String(70))
    id_ci_bundle: Mapped[str | None] = mapped_column(sa.String(70))
    payment_date_time: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    application_date: Mapped[dt.date | None] = mapped_column(sa.Date)
    transfer_date: Mapped[dt.date | None] = mapped_column(sa.Date)
    standin: Mapped[bool] = mapped_column(default=False)
    # issue 15 (activation): paid in pagoPA's test environment (a test station, or an Ente or
    # service active in test only): no real money moved
    test: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    transfers: Mapped[list | None] = mapped_column(JSONType)
    metadata_entries: Mapped[list | None] = mapped_column("metadata", JSONType)
    raw_xml: Mapped[str] = mapped_column(sa.Text)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        sa.UniqueConstraint("ec_fiscal_code", "receipt_id"),
        # an Ente's receipts by IUV (the REST filter, reporting-flow entries)
        sa.Index("ix_receipt_ente_id_creditor_reference_id", "ente_id", "creditor_reference_id"),
        # an Ente's receipts newest first, by day, page after page (keyset on received_at, id)
        sa.Index("ix_receipt_ente_id_received_at_id", "ente_id", "received_at", "id"),
    )
