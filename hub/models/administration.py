"""Administration (issue 15): the Ente's accounts (IBANs) with their validity.

``Ente.iban`` / ``Ente.postal_iban`` stay the accounts in use today (what the notices, the seed
and the services' defaults read); ``EnteIban`` is the register an intermediary keeps of every
account the Ente declared, from when and until when it is valid. ``hub.admin`` keeps the two in
step: adding or closing an account sets the Ente's current ones.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.db import Base
from hub.models.tenants import Ente


class EnteIban(Base):
    """One account of an Ente: bank or postal, valid from a day, until a day (or open)."""

    __tablename__ = "ente_iban"

    id: Mapped[int] = mapped_column(primary_key=True)
    ente_id: Mapped[int] = mapped_column(sa.ForeignKey("ente.id", ondelete="CASCADE"), index=True)
    iban: Mapped[str] = mapped_column(sa.String(35))
    postal: Mapped[bool] = mapped_column(default=False)
    valid_from: Mapped[dt.date] = mapped_column(sa.Date)
    valid_until: Mapped[dt.date | None] = mapped_column(sa.Date)
    description: Mapped[str | None] = mapped_column(sa.String(140))

    ente: Mapped[Ente] = relationship()

    __table_args__ = (sa.UniqueConstraint("ente_id", "iban"),)

    def valid_on(self, day: dt.date) -> bool:
        return self.valid_from <= day and (self.valid_until is None or day <= self.valid_until)
