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
    raw_xml: Mapped[str] = mapped_column(sa.Text)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    reconciled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    entries: Mapped[list[ReportingEntry]] = relationship(
        back_populates="flow", order_by="ReportingEntry.id", cascade="all, delete-orphan"
    )

    __table_args__ = (sa.UniqueConstraint("ente_id", "flow_id", "flow_datetime"),)


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
    # matched | amount_mismatch | no_receipt | not_paid | revoked | without_rpt | other_ente
    match: Mapped[str] = mapped_column(sa.String(16))
    receipt_pk: Mapped[int | None] = mapped_column(sa.ForeignKey("receipt.id"), index=True)
    option_id: Mapped[int | None] = mapped_column(sa.ForeignKey("payment_option.id"), index=True)

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
