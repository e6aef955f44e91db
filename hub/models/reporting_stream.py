"""An FdR 3 flow's payments as fetched, one row per page: a flow of 100,000 payments is stored
a page at a time (FdR 3 serves at most 1,000 a page) and never held whole in memory."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base


class ReportingFlowPage(Base):
    """Page ``page`` (from 1) of an FdR 3 flow revision's payments: the ``data`` array of
    FdR 3's PaginatedPaymentsResponse as JSON text, as fetched. The flow's own
    SingleFlowResponse is ``reporting_flow.raw_json`` (``{"flow": ...}``)."""

    __tablename__ = "reporting_flow_page"

    flow_pk: Mapped[int] = mapped_column(
        sa.ForeignKey("reporting_flow.id", ondelete="CASCADE"), primary_key=True
    )
    page: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    payments_json: Mapped[str] = mapped_column(sa.Text)
