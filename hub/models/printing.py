"""Notice batches: a set of payment options rendered to PDF into one zip, with progress."""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.db import Base, JSONType, UTCDateTime, utcnow


class BatchStatus(enum.StrEnum):
    PENDING = "pending"  # created, first chunk not yet run
    RUNNING = "running"
    DONE = "done"  # the zip is ready
    FAILED = "failed"


class NoticeBatch(Base):
    """A batch of notices. ``rendered`` counts the items done (progress); the items themselves
    say which are done, so a restarted worker resumes with the others."""

    __tablename__ = "notice_batch"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(36), unique=True)
    ente_id: Mapped[int] = mapped_column(sa.ForeignKey("ente.id"), index=True)
    variant: Mapped[str] = mapped_column(sa.String(8), default="it")
    selection: Mapped[dict] = mapped_column(JSONType)  # what was asked for, for the record
    status: Mapped[BatchStatus] = mapped_column(
        sa.Enum(
            BatchStatus,
            values_callable=lambda e: [m.value for m in e],
            native_enum=False,
            length=16,
            name="notice_batch_status",
        ),
        default=BatchStatus.PENDING,
    )
    total: Mapped[int] = mapped_column(default=0)
    rendered: Mapped[int] = mapped_column(default=0)
    zip_path: Mapped[str | None] = mapped_column(sa.String(500))
    zip_bytes: Mapped[int | None] = mapped_column(sa.BigInteger)
    error: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    items: Mapped[list[NoticeBatchItem]] = relationship(
        back_populates="batch", order_by="NoticeBatchItem.seq", cascade="all, delete-orphan"
    )


class NoticeBatchItem(Base):
    """One debt position of a batch (one PDF: its single notice or its whole plan)."""

    __tablename__ = "notice_batch_item"

    batch_id: Mapped[int] = mapped_column(
        sa.ForeignKey("notice_batch.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(primary_key=True)
    position_id: Mapped[int] = mapped_column(sa.ForeignKey("debt_position.id"))
    file_name: Mapped[str] = mapped_column(sa.String(80))
    done: Mapped[bool] = mapped_column(default=False)
    # why this position has no PDF (e.g. an amount too large for a notice's codes)
    error: Mapped[str | None] = mapped_column(sa.String(300))

    batch: Mapped[NoticeBatch] = relationship(back_populates="items")

    __table_args__ = (
        # what the lanes look for: the next items not yet done
        sa.Index("ix_notice_batch_item_todo", "batch_id", "done", "seq"),
    )
