"""The REST API's own tables: API keys and their Enti, the audit trail, idempotent creates."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.db import Base, JSONType, UTCDateTime, utcnow
from hub.models.tenants import Ente

api_key_ente = sa.Table(
    "api_key_ente",
    Base.metadata,
    sa.Column("api_key_id", sa.ForeignKey("api_key.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("ente_id", sa.ForeignKey("ente.id", ondelete="CASCADE"), primary_key=True),
)


class ApiKey(Base):
    """A key given to one Ente application (or an intermediary's, for several Enti).

    Only the SHA-256 of the key is stored; ``prefix`` (the key's first characters) is kept in
    clear so that operators can tell keys apart in lists and logs.
    """

    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    prefix: Mapped[str] = mapped_column(sa.String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(140))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # administration (issue 15): a key of the intermediary's administration API (/admin/...)
    intermediary_id: Mapped[int | None] = mapped_column(sa.ForeignKey("intermediary.id"))

    enti: Mapped[list[Ente]] = relationship(secondary=api_key_ente)

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class AuditEvent(Base):
    """Who did what, when: one row per write through the API (or the CLI on keys)."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor: Mapped[str] = mapped_column(sa.String(100))  # "api_key:ph_ab12cd34", "cli"
    api_key_id: Mapped[int | None] = mapped_column(sa.ForeignKey("api_key.id"))
    ente_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ente.id"), index=True)
    action: Mapped[str] = mapped_column(sa.String(64))  # "debt_position.create", ...
    target: Mapped[str | None] = mapped_column(sa.String(100))  # "debt_position:IUPD-1"
    request_id: Mapped[str | None] = mapped_column(sa.String(64))
    detail: Mapped[dict | None] = mapped_column(JSONType)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # administration (issue 15): lets an event name an Ente not yet flushed (bulk onboarding)
    ente: Mapped[Ente | None] = relationship()


class IdempotencyRecord(Base):
    """The answer given to a create with an ``Idempotency-Key``, replayed for the same key."""

    __tablename__ = "api_idempotency"

    id: Mapped[int] = mapped_column(primary_key=True)
    ente_id: Mapped[int] = mapped_column(sa.ForeignKey("ente.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(sa.String(255))
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    status_code: Mapped[int | None] = mapped_column(sa.SmallInteger)
    response: Mapped[dict | None] = mapped_column(JSONType)
    location: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (sa.UniqueConstraint("ente_id", "key"),)
