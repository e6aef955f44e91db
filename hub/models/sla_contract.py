"""The SLA contract's records (issue 19): planned maintenance and its notices, the help-desk
tickets' history, the e-mails the monitor sends, and alert incidents.

``SlaMail`` is the monitor's outgoing mail queue: a row is written in the transaction that
decides to write (a ticket taken over, a maintenance planned) and delivered by the
``sla_send_mail`` actor (sla_monitor.mailer), which stamps ``sent_at``: the instant a
maintenance notice's lead time is measured from.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, JSONType, UTCDateTime, utcnow


class SlaMaintenance(Base):
    """A planned maintenance window: the probes' minutes inside it are excused."""

    __tablename__ = "sla_maintenance"

    id: Mapped[int] = mapped_column(primary_key=True)
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)  # the expected end
    affects: Mapped[str] = mapped_column(sa.String(500))  # what is affected, in words
    # fiscal codes of the Enti affected; empty: every Ente
    ente_codes: Mapped[list[str]] = mapped_column(JSONType, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(sa.String(100))
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class SlaMail(Base):
    """One e-mail of the monitor: a maintenance notice, a ticket message or an alert."""

    __tablename__ = "sla_mail"

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose: Mapped[str] = mapped_column(sa.String(24))  # maintenance | ticket | alert
    maintenance_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sla_maintenance.id"), index=True
    )
    ticket_id: Mapped[int | None] = mapped_column(sa.ForeignKey("sla_ticket.id"), index=True)
    ente_code: Mapped[str | None] = mapped_column(sa.String(35))
    recipient: Mapped[str] = mapped_column(sa.String(256))
    subject: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    error: Mapped[str | None] = mapped_column(sa.String(200))


class SlaTicketEvent(Base):
    """One transition of a help-desk ticket (workflows.ticket), who made it and why."""

    __tablename__ = "sla_ticket_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("sla_ticket.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    event: Mapped[str] = mapped_column(sa.String(24))
    from_state: Mapped[str | None] = mapped_column(sa.String(20))
    to_state: Mapped[str] = mapped_column(sa.String(20))
    actor: Mapped[str] = mapped_column(sa.String(100))
    note: Mapped[str | None] = mapped_column(sa.Text)


class SlaAlert(Base):
    """One incident an alert was sent for: opened once, closed (recovery notice) once."""

    __tablename__ = "sla_alert"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(80), index=True)  # availability, response:<op>, ...
    title: Mapped[str] = mapped_column(sa.String(200))
    detail: Mapped[str] = mapped_column(sa.String(500))
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    webhook_status: Mapped[str | None] = mapped_column(sa.String(80))
