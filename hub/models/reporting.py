"""The end of a payment: reporting flows (FdR) from the PSPs, and the bank's credits.

A ``ReportingFlow`` is one FlussoRiversamento as fetched from the Node, kept with its XML; its
``ReportingEntry`` rows are its datiSingoliPagamenti, each matched (or not) to a receipt. A
``BankCredit`` is one line of the Ente's bank statement, matched (or not) to a flow by the
``/PUR/LGPE-RIVERSAMENTO/URI/<flow id>`` of its description. Money is integer cents.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.db import Base, UTCDateTime, utcnow


class ReportingFlow(Base):
    """One version of a flow. The Node may re-send a flow id with a newer ``dataOraFlusso``:
    that is a new row (unique on Ente, flow id, date-time); the newest version is the one
    reconciliation reads, older ones are marked ``superseded``."""

    __tablename__ = "reporting_flow"

    id: Mapped[int] = mapped_column(primary_key=True)
    ente_id: Mapped[int] = mapped_column(sa.ForeignKey("ente.id"), index=True)
    flow_id: Mapped[str] = mapped_column(sa.String(35), index=True)
    # as written in the flow: the Node's local time, without offset
    flow_datetime: Mapped[dt.datetime] = mapped_column(sa.DateTime)
    psp_id: Mapped[str] = mapped_column(sa.String(35))  # codiceIdentificativoUnivoco (BIC, ABI)
    psp_name: Mapped[str | None] = mapped_column(sa.String(70))
    bic: Mapped[str | None] = mapped_column(sa.String(35))  # codiceBicBancaDiRiversamento
    settlement_id: Mapped[str] = mapped_column(sa.String(35))
    settlement_date: Mapped[dt.date] = mapped_column(sa.Date)
    declared_count: Mapped[int] = mapped_column(sa.Integer)
    declared_total_cents: Mapped[int] = mapped_column(sa.BigInteger)
    computed_count: Mapped[int] = mapped_column(sa.Integer)
    computed_total_cents: Mapped[int] = mapped_column(sa.BigInteger)
    # received | anomalous | reconciled | superseded
    status: Mapped[str] = mapped_column(sa.String(16), default="received", index=True)
    raw_xml: Mapped[str | None] = mapped_column(sa.Text)  # SOAP flows: the XML as fetched
    # soap (nodoChiediFlussoRendicontazione) | fdr3 (FdR 3's organization API)
    source: Mapped[str] = mapped_column(sa.String(8), default="soap", server_default="soap")
    revision: Mapped[int | None] = mapped_column(sa.Integer)  # FdR 3 only
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # FdR 3 only
    raw_json: Mapped[str | None] = mapped_column(sa.Text)  # FdR 3: flow and payments as fetched
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    reconciled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    entries: Mapped[list[ReportingEntry]] = relationship(
        back_populates="flow", order_by="ReportingEntry.id", cascade="all, delete-orphan"
    )

    __table_args__ = (
        sa.Index(
            "uq_reporting_flow_soap_version",
            "ente_id",
            "flow_id",
            "flow_datetime",
            unique=True,
            postgresql_where=sa.text("revision IS NULL"),
            sqlite_where=sa.text("revision IS NULL"),
        ),
        sa.Index(
            "uq_reporting_flow_fdr3_revision",
            "ente_id",
            "flow_id",
            "psp_id",
            "revision",
            unique=True,
            postgresql_where=sa.text("revision IS NOT NULL"),
            sqlite_where=sa.text("revision IS NOT NULL"),
        ),
    )


class ReportingEntry(Base):
    """One datiSingoliPagamenti of a flow: IUV, IUR (the receiptId), transfer index, amount."""

    __tablename__ = "reporting_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    flow_pk: Mapped[int] = mapped_column(
        sa.ForeignKey("reporting_flow.id", ondelete="CASCADE"), index=True
    )
    iuv: Mapped[str] = mapped_column(sa.String(35), index=True)
    iur: Mapped[str] = mapped_column(sa.String(35))
    transfer_index: Mapped[int | None] = mapped_column(sa.SmallInteger)  # 1..5, optional
    amount_cents: Mapped[int] = mapped_column(sa.BigInteger)
    outcome_code: Mapped[str] = mapped_column(sa.String(1))
    outcome_date: Mapped[dt.date] = mapped_column(sa.Date)
    pay_status: Mapped[str | None] = mapped_column(sa.String(16))  # FdR 3's payStatus
    # matched | amount_mismatch | no_receipt | not_paid | revoked | without_rpt | other_ente
    match: Mapped[str] = mapped_column(sa.String(16))
    # what the matching found; no foreign keys (migration 0027): a check per entry cost a
    # fifth of a large flow's time, and receipts and options are never deleted
    receipt_pk: Mapped[int | None] = mapped_column(sa.Integer, index=True)
    option_id: Mapped[int | None] = mapped_column(sa.Integer, index=True)

    flow: Mapped[ReportingFlow] = relationship(back_populates="entries")


class BankCredit(Base):
    """One credit of a bank statement. ``fingerprint`` makes loading a statement twice add
    nothing: the bank's own reference when the statement carries one, otherwise a hash of
    the line's content and its occurrence number among identical lines of that file."""

    __tablename__ = "bank_credit"

    id: Mapped[int] = mapped_column(primary_key=True)
    ente_id: Mapped[int] = mapped_column(sa.ForeignKey("ente.id"), index=True)
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    value_date: Mapped[dt.date] = mapped_column(sa.Date)
    booking_date: Mapped[dt.date | None] = mapped_column(sa.Date)
    amount_cents: Mapped[int] = mapped_column(sa.BigInteger)
    description: Mapped[str] = mapped_column(sa.String(500))
    reference: Mapped[str | None] = mapped_column(sa.String(64))
    counterparty: Mapped[str | None] = mapped_column(sa.String(140))
    iban: Mapped[str | None] = mapped_column(sa.String(35))
    flow_id: Mapped[str | None] = mapped_column(sa.String(35), index=True)  # from description
    source_file: Mapped[str] = mapped_column(sa.String(255))
    source_line: Mapped[int] = mapped_column(sa.Integer)
    flow_pk: Mapped[int | None] = mapped_column(sa.ForeignKey("reporting_flow.id"), index=True)
    # matched | amount_mismatch | unknown_flow | no_flow_id
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (sa.UniqueConstraint("ente_id", "fingerprint"),)


class FdrCheckpoint(Base):
    """Our own ``publishedGt`` for one Ente at FdR 3: the newest ``published`` of the flows
    stored. Without it FdR 3 lists flows back to the start of the previous month only."""

    __tablename__ = "fdr_checkpoint"

    id: Mapped[int] = mapped_column(primary_key=True)
    ente_id: Mapped[int] = mapped_column(sa.ForeignKey("ente.id"), unique=True)
    published_gt: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    polled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ReceiptRecovery(Base):
    """One receipt we look for at pagoPA's receipts service: a flow entry with no receipt
    (``reason='flow_entry'``), a payment stuck in progress (``'stuck'``, ``iur`` empty) or an
    operator's request (``'operator'``). ``pending`` until ``recovered`` or ``given_up``."""

    __tablename__ = "receipt_recovery"

    id: Mapped[int] = mapped_column(primary_key=True)
    ente_id: Mapped[int] = mapped_column(sa.ForeignKey("ente.id"))
    iuv: Mapped[str] = mapped_column(sa.String(35))
    iur: Mapped[str] = mapped_column(sa.String(35), default="", server_default="")
    option_id: Mapped[int | None] = mapped_column(sa.ForeignKey("payment_option.id"))
    entry_pk: Mapped[int | None] = mapped_column(
        sa.ForeignKey("reporting_entry.id", ondelete="SET NULL")
    )
    reason: Mapped[str] = mapped_column(sa.String(16))
    # pending | recovered | given_up
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    first_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    receipt_pk: Mapped[int | None] = mapped_column(sa.ForeignKey("receipt.id"))
    detail: Mapped[str | None] = mapped_column(sa.String(255))
    requested_by: Mapped[str | None] = mapped_column(sa.String(64))

    __table_args__ = (
        sa.UniqueConstraint("ente_id", "iuv", "iur"),
        sa.Index(
            "ix_receipt_recovery_due",
            "next_attempt_at",
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        ),
        sa.Index("ix_receipt_recovery_status", "status"),
    )


class ReceiptRecoveryBudget(Base):
    """Calls made to the receipts service on one UTC day (``payhub.recovery_daily_budget``)."""

    __tablename__ = "receipt_recovery_budget"

    day: Mapped[dt.date] = mapped_column(sa.Date, primary_key=True)
    calls: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
