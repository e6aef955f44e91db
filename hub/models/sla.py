"""What the SLA monitor keeps: answer times per minute, breaches, probes, help-desk tickets.

``SlaMinute`` is one process's answers to one paForNode operation in one minute (several
processes write one row each; readers add them up). Durations are seconds; the histogram is a
list of counts over ``HISTOGRAM_BOUNDS`` (upper bounds, the last bucket open).

``SlaOutcomeMinute`` counts the outcomes (``OK`` or the fault/error code) of the answers pagoPA's
KPIs judge (paSendRT/V2 for B.9, paDemandPaymentNotice for B.5, the payment-options service for
B.6) per minute, station or Ente, and process. ``SlaProbeDay`` keeps the probes of a pruned UTC
day as one character per minute per target (hub.sla.retention), so that availability over a
closed period reads the same after pruning.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, JSONType, UTCDateTime, utcnow

# upper bounds in seconds; 2.0 must be one of them (the SLA threshold is read off the buckets)
HISTOGRAM_BOUNDS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)


class SlaMinute(Base):
    __tablename__ = "sla_minute"

    id: Mapped[int] = mapped_column(primary_key=True)
    minute: Mapped[dt.datetime] = mapped_column(UTCDateTime)  # its first instant
    operation: Mapped[str] = mapped_column(sa.String(40))
    source: Mapped[str] = mapped_column(sa.String(80))  # host:pid of the web process
    count: Mapped[int] = mapped_column(sa.Integer)
    over_threshold: Mapped[int] = mapped_column(sa.Integer)  # answered in more than 2 s
    total_seconds: Mapped[float] = mapped_column(sa.Float)
    max_seconds: Mapped[float] = mapped_column(sa.Float)
    histogram: Mapped[list[int]] = mapped_column(JSONType)

    __table_args__ = (sa.UniqueConstraint("minute", "operation", "source"),)


class SlaOutcomeMinute(Base):
    __tablename__ = "sla_outcome"

    id: Mapped[int] = mapped_column(primary_key=True)
    minute: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)  # its first instant
    operation: Mapped[str] = mapped_column(sa.String(40))
    station: Mapped[str] = mapped_column(sa.String(35), default="")  # idStation of the request
    ente: Mapped[str] = mapped_column(sa.String(35), default="")  # the Ente (payment options)
    outcome: Mapped[str] = mapped_column(sa.String(40))  # OK, or the fault code
    source: Mapped[str] = mapped_column(sa.String(80))  # host:pid, or "pruned" (hourly sums)
    count: Mapped[int] = mapped_column(sa.Integer)

    __table_args__ = (
        sa.UniqueConstraint("minute", "operation", "station", "ente", "outcome", "source"),
    )


class SlaProbeDay(Base):
    """The probes of one pruned UTC day for one target: ``minutes`` has 1440 characters, ``u``
    (every probe of that minute ok), ``d`` (one failed) or ``.`` (none)."""

    __tablename__ = "sla_probe_day"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[dt.date] = mapped_column(sa.Date)
    target: Mapped[str] = mapped_column(sa.String(16))
    minutes: Mapped[str] = mapped_column(sa.String(1440))

    __table_args__ = (sa.UniqueConstraint("day", "target"),)


class SlaBreach(Base):
    """A window in which fewer than 98 % of an operation's answers took 2 s or less. At most
    one is open (``closed_at`` null) per operation, until the share recovers."""

    __tablename__ = "sla_breach"

    id: Mapped[int] = mapped_column(primary_key=True)
    operation: Mapped[str] = mapped_column(sa.String(40), index=True)
    window_start: Mapped[dt.datetime] = mapped_column(UTCDateTime)  # the window that opened it
    window_end: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    requests: Mapped[int] = mapped_column(sa.Integer)
    share: Mapped[float] = mapped_column(sa.Float)  # within 2 s, 0..1, in that window
    worst_share: Mapped[float] = mapped_column(sa.Float)
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class SlaProbe(Base):
    """One availability probe: the station called as the Node calls it, or /health."""

    __tablename__ = "sla_probe"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    target: Mapped[str] = mapped_column(sa.String(16))  # verify | health
    ok: Mapped[bool] = mapped_column(sa.Boolean)
    ms: Mapped[float] = mapped_column(sa.Float)
    error: Mapped[str | None] = mapped_column(sa.String(200))


class SlaTicket(Base):
    """A help-desk ticket; its targets are business time (see hub.calendar)."""

    __tablename__ = "sla_ticket"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(sa.String(200))
    ente_code: Mapped[str | None] = mapped_column(sa.String(35))
    priority: Mapped[str] = mapped_column(sa.String(8))  # high | medium | low
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    response_due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    resolution_due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    responded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # taken over
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # the contract's help desk (issue 19, sla_monitor.helpdesk; workflows.ticket)
    description: Mapped[str | None] = mapped_column(sa.Text)
    reporter_kind: Mapped[str | None] = mapped_column(sa.String(12))  # referente | citizen
    reporter_name: Mapped[str | None] = mapped_column(sa.String(140))
    reporter_email: Mapped[str | None] = mapped_column(sa.String(256))
    owner: Mapped[str | None] = mapped_column(sa.String(100))
    severity: Mapped[str | None] = mapped_column(sa.String(16))  # blocking | non_blocking
    severity_reason: Mapped[str | None] = mapped_column(sa.String(500))
    state: Mapped[str] = mapped_column(sa.String(20), default="opened", server_default="opened")
    paused_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # business seconds spent waiting for the reporter (the resolution clock paused)
    paused_seconds: Mapped[float] = mapped_column(sa.Float, default=0.0, server_default="0")
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
