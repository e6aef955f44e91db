"""The accounting office's daily file: one zip per Ente, service and business day (versions),
where each Ente wants it delivered (targets), and how each delivery went (deliveries, attempts).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.db import Base, JSONType, UTCDateTime, utcnow

GENERIC_SERVICE = "GENERICO"  # the file of payments with no service code
DELIVERY_DUE = "status IN ('pending', 'retrying', 'sending')"


class DailyFile(Base):
    """One version of the zip of an Ente's payments of one service on one business day.

    Version 1 is built after midnight; a receipt arriving later for that day makes version 2,
    and so on: every version is kept (``path`` under ``payhub.daily_file_dir``).
    ``source_digest`` fingerprints the receipts it holds, so a re-run with nothing new reuses
    the latest version rather than building an identical one. ``test``: a test file, the test
    receipts of an Ente or service active in test only (never mixed with real payments).
    """

    __tablename__ = "daily_file"

    id: Mapped[int] = mapped_column(primary_key=True)
    ente_id: Mapped[int] = mapped_column(sa.ForeignKey("ente.id"))
    service_code: Mapped[str] = mapped_column(sa.String(35))  # GENERIC_SERVICE: none
    business_date: Mapped[dt.date] = mapped_column(sa.Date)
    version: Mapped[int] = mapped_column(sa.SmallInteger)
    # the test receipts of an Ente or service active in test only (hub.dailyfile.files); the
    # test and real files of one service and day share the sequence of versions
    test: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    file_name: Mapped[str] = mapped_column(sa.String(200))
    path: Mapped[str] = mapped_column(sa.String(500))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    source_digest: Mapped[str] = mapped_column(sa.String(64))
    payments: Mapped[int] = mapped_column()
    total_cents: Mapped[int] = mapped_column(sa.BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        sa.UniqueConstraint("ente_id", "service_code", "business_date", "version"),
        sa.Index("ix_daily_file_day", "business_date", "ente_id"),
    )


class DailyFileTarget(Base):
    """Where an Ente's daily files go: SFTP, FTPS or e-mail, for all its services or one.

    ``secret`` (an SFTP/FTPS password) and ``private_key`` (an SFTP key, OpenSSH PEM) are never
    shown back nor logged; ``host_key`` pins the SFTP server's public key (OpenSSH one-line).
    """

    __tablename__ = "daily_file_target"

    id: Mapped[int] = mapped_column(primary_key=True)
    ente_id: Mapped[int] = mapped_column(sa.ForeignKey("ente.id"), index=True)
    service_code: Mapped[str | None] = mapped_column(sa.String(35))  # None: every service
    kind: Mapped[str] = mapped_column(sa.String(8))  # sftp, ftps, email
    host: Mapped[str | None] = mapped_column(sa.String(255))
    port: Mapped[int | None] = mapped_column()
    username: Mapped[str | None] = mapped_column(sa.String(100))
    secret: Mapped[str | None] = mapped_column(sa.String(500))
    private_key: Mapped[str | None] = mapped_column(sa.Text)
    host_key: Mapped[str | None] = mapped_column(sa.String(2000))
    directory: Mapped[str | None] = mapped_column(sa.String(255))
    recipients: Mapped[list | None] = mapped_column(JSONType)  # e-mail addresses
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (sa.CheckConstraint("kind IN ('sftp', 'ftps', 'email')", name="kind"),)

    @property
    def where(self) -> str:
        """Where it delivers, without any secret (for pages, records and logs)."""
        if self.kind == "email":
            return "email:" + ",".join(self.recipients or [])
        directory = (self.directory or "").strip("/")
        return f"{self.kind}://{self.username or ''}@{self.host}:{self.port}/{directory}"


class DailyFileDelivery(Base):
    """One file version for one target: pending -> sending -> delivered | retrying -> ... ->
    dead (support re-delivers by hand: back to pending, a new round of attempts)."""

    __tablename__ = "daily_file_delivery"

    id: Mapped[int] = mapped_column(primary_key=True)
    file_id: Mapped[int] = mapped_column(sa.ForeignKey("daily_file.id", ondelete="CASCADE"))
    target_id: Mapped[int] = mapped_column(sa.ForeignKey("daily_file_target.id"))
    ente_id: Mapped[int] = mapped_column(sa.ForeignKey("ente.id"))
    where: Mapped[str] = mapped_column(sa.String(500))
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    replays: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    file: Mapped[DailyFile] = relationship()
    target: Mapped[DailyFileTarget] = relationship()
    attempt_log: Mapped[list[DailyFileAttempt]] = relationship(
        back_populates="delivery", order_by="DailyFileAttempt.id", cascade="all, delete-orphan"
    )

    __table_args__ = (
        sa.UniqueConstraint("file_id", "target_id"),
        sa.Index("ix_daily_file_delivery_ente_status", "ente_id", "status", "id"),
        # support's deliveries given up (status dead, newest first) of every Ente
        sa.Index("ix_daily_file_delivery_status", "status", "id"),
        sa.Index(
            "ix_daily_file_delivery_due",
            "next_attempt_at",
            postgresql_where=sa.text(DELIVERY_DUE),
            sqlite_where=sa.text(DELIVERY_DUE),
        ),
    )


class DailyFileAttempt(Base):
    """One try at a delivery: when, where, what (size, hash), how it went."""

    __tablename__ = "daily_file_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        sa.ForeignKey("daily_file_delivery.id", ondelete="CASCADE"), index=True
    )
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    duration_ms: Mapped[int] = mapped_column()
    where: Mapped[str] = mapped_column(sa.String(500))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    outcome: Mapped[str] = mapped_column(sa.String(8))  # ok, error
    error: Mapped[str | None] = mapped_column(sa.String(500))

    delivery: Mapped[DailyFileDelivery] = relationship(back_populates="attempt_log")
