"""The dashboard's counters: how many options entered each state per (Ente, service, day), and
their amount, kept by a database trigger on ``state_transition`` (migration 0024)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base
from hub.models.history import StateTransition
from hub.models.positions import DebtPosition, PaymentOption
from hub.models.receipts import Receipt


class StateCount(Base):
    """A count of transitions into ``state`` on ``day`` (Italian time) for one Ente and service
    (None: the position names no service). Rows are append-only deltas, one per statement that
    wrote history (no row is updated, so concurrent writers never wait on a counter);
    ``hub.counters.compact`` folds each key's rows into one. Read with ``sum``."""

    __tablename__ = "state_count"

    id: Mapped[int] = mapped_column(primary_key=True)
    ente_id: Mapped[int] = mapped_column(sa.ForeignKey("ente.id", ondelete="CASCADE"))
    service_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("payment_service.id", ondelete="SET NULL")
    )
    state: Mapped[str] = mapped_column(sa.String(16))
    day: Mapped[dt.date] = mapped_column(sa.Date)
    options: Mapped[int] = mapped_column(sa.BigInteger)
    amount_cents: Mapped[int] = mapped_column(sa.BigInteger)

    __table_args__ = (sa.Index("ix_state_count_ente_day", "ente_id", "day"),)


# Indexes for the dashboard at scale (migration 0024), declared here beside the counters:
# the search by state, newest first, walks one Ente's options of that state in id order
sa.Index(
    "ix_payment_option_ente_status_id",
    PaymentOption.ente_id,
    PaymentOption.status,
    PaymentOption.id,
)
# an Ente's options or positions in id order (the search and the REST list, keyset pages): a
# small Ente's page without it walks a large Ente's rows by primary key
sa.Index("ix_payment_option_ente_id_id", PaymentOption.ente_id, PaymentOption.id)
sa.Index("ix_debt_position_ente_id_id", DebtPosition.ente_id, DebtPosition.id)
# the search by creation day
sa.Index("ix_payment_option_ente_created_at", PaymentOption.ente_id, PaymentOption.created_at)
# history by time (support's views, purges): no scan of the whole table
sa.Index("ix_state_transition_created_at", StateTransition.created_at)
# the dashboard's Stand-In receipts of today and this month: the few Stand-In receipts only
STANDIN = "standin"
sa.Index(
    "ix_receipt_standin_ente_received_at",
    Receipt.ente_id,
    Receipt.received_at,
    postgresql_where=sa.text(STANDIN),
    sqlite_where=sa.text(STANDIN),
)
