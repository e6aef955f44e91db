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

from hub.db import Base, JSONType, UTCDateTime


class GpdPosition(Base):
    """The GPD-only facts of one debt position (``extras``: JSON, see web/gpd/shapes.py)."""

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
