"""People who log in to the dashboard at /ops/: Ente operators and support staff."""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.db import Base, UTCDateTime, utcnow
from hub.models.tenants import Ente


class OperatorRole(enum.StrEnum):
    OPERATOR = "operator"  # sees only the Enti linked through operator_ente
    SUPPORT = "support"  # sees every Ente, the stuck-payment views and their actions
    # runs the platform: everything support does, plus the administration of intermediaries,
    # stations, Enti, services, portals, operators and the activation requests
    INTERMEDIARY = "intermediary"


operator_ente = sa.Table(
    "operator_ente",
    Base.metadata,
    sa.Column(
        "account_id", sa.ForeignKey("operator_account.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("ente_id", sa.ForeignKey("ente.id", ondelete="CASCADE"), primary_key=True),
)


class OperatorAccount(Base):
    """One human account; ``password_hash`` is ``scrypt$n$r$p$salt_hex$hash_hex``."""

    __tablename__ = "operator_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[str] = mapped_column(sa.String(16))  # an OperatorRole value
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # login tickets name the version they were issued under; logout raises it (all end)
    ticket_version: Mapped[int] = mapped_column(default=0, server_default="0")

    enti: Mapped[list[Ente]] = relationship(secondary=operator_ente)

    @property
    def is_support(self) -> bool:
        """Support staff and the intermediary's administrators (who can do what support does)."""
        return self.role in (OperatorRole.SUPPORT, OperatorRole.INTERMEDIARY)

    @property
    def is_intermediary(self) -> bool:
        return self.role == OperatorRole.INTERMEDIARY
