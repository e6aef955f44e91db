"""Bulk loads: an uploaded CSV or JSON file of debt positions, loaded chunk by chunk."""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, UTCDateTime, utcnow


class BulkLoadStatus(enum.StrEnum):
    PENDING = "pending"  # stored, first chunk not yet run
    RUNNING = "running"
    DONE = "done"  # every row read (some may have failed: see the report)
    FAILED = "failed"  # the file could not be read to the end (``error`` says why)


class BulkLoad(Base):
    """One uploaded file. ``offset``/``next_row`` are the checkpoint: the byte offset and row
    number of the first position not yet loaded, committed with each chunk's positions, so a
    restarted worker resumes there and never loads a row twice."""

    __tablename__ = "bulk_load"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(36), unique=True)
    ente_id: Mapped[int] = mapped_column(sa.ForeignKey("ente.id"), index=True)
    file_format: Mapped[str] = mapped_column(sa.String(8))  # csv | json
    file_path: Mapped[str] = mapped_column(sa.String(500))
    file_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    publish: Mapped[bool] = mapped_column(default=False)
    cause: Mapped[str] = mapped_column(sa.String(200))  # who asked: "api:<key prefix>"
    status: Mapped[BulkLoadStatus] = mapped_column(
        sa.Enum(
            BulkLoadStatus,
            values_callable=lambda e: [m.value for m in e],
            native_enum=False,
            length=16,
            name="bulk_load_status",
        ),
        default=BulkLoadStatus.PENDING,
    )
    offset: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    next_row: Mapped[int] = mapped_column(default=0)
    rows_done: Mapped[int] = mapped_column(default=0)
    rows_failed: Mapped[int] = mapped_column(default=0)
    positions_created: Mapped[int] = mapped_column(default=0)
    positions_unchanged: Mapped[int] = mapped_column(default=0)
    positions_failed: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class BulkLoadError(Base):
    """A row that was not loaded, and why: the downloadable report."""

    __tablename__ = "bulk_load_error"

    id: Mapped[int] = mapped_column(primary_key=True)
    load_id: Mapped[int] = mapped_column(
        sa.ForeignKey("bulk_load.id", ondelete="CASCADE"), index=True
    )
    row: Mapped[int]
    iupd: Mapped[str | None] = mapped_column(sa.String(64))
    field: Mapped[str] = mapped_column(sa.String(100))
    message: Mapped[str] = mapped_column(sa.String(500))
