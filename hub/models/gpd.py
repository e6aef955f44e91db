"""What a position created through the GPD-compatible API (web/gpd) says beyond our own model.

pagoPA's GPD carries fields payhub's archive has no column for (the creditor's company and
office name, the validity date, ``switchToExpired``, ``payStandIn``, per-option metadata, the
grouping of v3 options, the debtor's phone and region). They are kept here, one row per
position, so that a GPD client reads back what it wrote. The position itself (debtor, options,
transfers, states) is the archive's: ``hub.positions.writer`` writes it, as for the REST API.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, JSONType, UTCDateTime, utcnow


class GpdPosition(Base):
    """The GPD-only facts of one debt position (``extras``: JSON, see hub/positions/gpd_json.py)."""

    __tablename__ = "gpd_position"

    position_id: Mapped[int] = mapped_column(
        sa.ForeignKey("debt_position.id", ondelete="CASCADE"), primary_key=True
    )
    company_name: Mapped[str] = mapped_column(sa.String(140))
    office_name: Mapped[str | None] = mapped_column(sa.String(140))
    # not payable before this instant: publishing before it leaves the position PUBLISHED
    validity_date: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # publish asked while validity_date was still ahead: hub.positions.gpd.publish_due does it
    publish_pending: Mapped[bool] = mapped_column(default=False, index=True)
    switch_to_expired: Mapped[bool] = mapped_column(default=False)
    pay_stand_in: Mapped[bool] = mapped_column(default=True)
    # GPD's DELETE: the position is cancelled in the archive (its history stays) and hidden
    # from the GPD face from then on
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    extras: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class AcaEnte(Base):
    """The per-Ente switch of the ACA feed (hub.aca): on, its positions are kept in step."""

    __tablename__ = "aca_ente"

    ente_id: Mapped[int] = mapped_column(
        sa.ForeignKey("ente.id", ondelete="CASCADE"), primary_key=True
    )
    enabled: Mapped[bool] = mapped_column(default=True)
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AcaSync(Base):
    """Where a position stands with ACA: the version last sent and what ACA holds of it."""

    __tablename__ = "aca_sync"

    position_id: Mapped[int] = mapped_column(
        sa.ForeignKey("debt_position.id", ondelete="CASCADE"), primary_key=True
    )
    # pending (a message is queued), synced, failed (retrying), dead (gave up: support)
    state: Mapped[str] = mapped_column(sa.String(16), default="pending", index=True)
    queued_version: Mapped[int | None] = mapped_column()
    synced_version: Mapped[int | None] = mapped_column()
    # what ACA holds: absent, valid (published there), invalid; paid options told as paid
    aca_state: Mapped[str] = mapped_column(sa.String(16), default="absent")
    paid_told: Mapped[list[str]] = mapped_column(JSONType, default=list)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    attempted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    synced_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class AcaUpload(Base):
    """One bulk load to ACA (``gpd-4-aca_massive_v2.json``, hub.aca_bulk): the positions it
    carries, the file id ACA gave it, and where it stands (pending: not sent yet; uploaded:
    ACA is processing it; done: its report applied; failed: retrying; dead: given up, its
    positions handed back to the one-by-one feed)."""

    __tablename__ = "aca_upload"

    id: Mapped[int] = mapped_column(primary_key=True)
    ente_id: Mapped[int] = mapped_column(sa.ForeignKey("ente.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(sa.String(16), default="pending", index=True)
    # position id (as text: JSON keys) -> the version uploaded
    versions: Mapped[dict[str, int]] = mapped_column(JSONType, default=dict)
    file_id: Mapped[str | None] = mapped_column(sa.String(100))
    attempts: Mapped[int] = mapped_column(default=0)
    polls: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    done_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class NotificationFee(Base):
    """SEND's notification cost of one option (euro cents), already included in the option's
    amount and in the Ente's own transfer (hub.positions.fees); paGetPayment carries it as
    the NOTIFICATION_FEE metadata."""

    __tablename__ = "notification_fee"

    option_id: Mapped[int] = mapped_column(
        sa.ForeignKey("payment_option.id", ondelete="CASCADE"), primary_key=True
    )
    fee_cents: Mapped[int] = mapped_column(sa.BigInteger)
    source: Mapped[str] = mapped_column(sa.String(16))  # api (GPD's call), send (price service)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
