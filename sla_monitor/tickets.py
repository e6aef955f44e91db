"""Help-desk tickets against their clocks: first response and resolution, in business hours.

When a ticket is opened its two due dates are computed once with the help-desk calendar
(hub.calendar), so a later change of hours or holidays does not move them. A ticket is
in target when it was answered (resolved) no later than its due date.

Settings (all optional, plus the calendar's):
  payhub.sla_ticket_targets   priority:response_hours/resolution_hours, space-separated
                              (default "high:1/9 medium:4/27 low:9/45": one hour and one day,
                              four hours and three days, one and five days of 9 hours)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.calendar import BusinessCalendar
from hub.config import Config, as_config
from hub.models.sla import SlaTicket
from workflows.ticket import TicketState

DEFAULT_TARGETS = "high:1/9 medium:4/27 low:9/45"


class TicketError(Exception):
    """A ticket that does not exist, or a change its state does not allow."""


@dataclass(frozen=True)
class TicketPolicy:
    calendar: BusinessCalendar
    targets: dict[str, tuple[dt.timedelta, dt.timedelta]]

    @classmethod
    def from_settings(cls, settings: Config | dict[str, Any]) -> TicketPolicy:
        """ValueError for a malformed target or calendar setting."""
        config = as_config(settings)
        targets = {}
        for item in config.sla_ticket_targets.split():
            try:
                priority, hours = item.split(":")
                response, resolution = (float(h) for h in hours.split("/"))
            except ValueError:
                raise ValueError(
                    f"payhub.sla_ticket_targets: {item!r} is not "
                    "priority:response_hours/resolution_hours"
                ) from None
            targets[priority] = (dt.timedelta(hours=response), dt.timedelta(hours=resolution))
        return cls(BusinessCalendar.from_settings(config), targets)


def open_ticket(
    session: Session,
    policy: TicketPolicy,
    subject: str,
    priority: str,
    now: dt.datetime,
    ente_code: str | None = None,
) -> SlaTicket:
    """A new ticket with its due dates; TicketError for a priority without targets."""
    if priority not in policy.targets:
        raise TicketError(f"priority {priority!r}: one of {', '.join(policy.targets)}")
    response, resolution = policy.targets[priority]
    ticket = SlaTicket(
        subject=subject[:200],
        priority=priority,
        ente_code=ente_code,
        opened_at=now,
        response_due_at=policy.calendar.deadline(now, response),
        resolution_due_at=policy.calendar.deadline(now, resolution),
    )
    session.add(ticket)
    session.flush()
    return ticket


def _get(session: Session, ticket_id: int) -> SlaTicket:
    ticket = session.get(SlaTicket, ticket_id, with_for_update=True)
    if ticket is None:
        raise TicketError(f"no ticket {ticket_id}")
    return ticket


def respond(session: Session, ticket_id: int, now: dt.datetime) -> SlaTicket:
    """Stop the first-response clock (a second call changes nothing)."""
    ticket = _get(session, ticket_id)
    if ticket.responded_at is None:
        ticket.responded_at = now
        if ticket.state == TicketState.OPENED:
            ticket.state = TicketState.TAKEN_OVER.value
    return ticket


def resolve(session: Session, ticket_id: int, now: dt.datetime) -> SlaTicket:
    """Stop both clocks (resolving answers too); a second call changes nothing."""
    ticket = _get(session, ticket_id)
    if ticket.responded_at is None:
        ticket.responded_at = now
    if ticket.resolved_at is None:
        ticket.resolved_at = now
        ticket.state = TicketState.RESOLVED.value
    return ticket


def listing(session: Session, open_only: bool = False) -> list[SlaTicket]:
    query = sa.select(SlaTicket).order_by(SlaTicket.opened_at, SlaTicket.id)
    if open_only:
        query = query.where(SlaTicket.resolved_at.is_(None))
    return list(session.scalars(query))


def summary(session: Session, start: dt.datetime, end: dt.datetime) -> dict[str, dict[str, int]]:
    """Per priority, for tickets opened in [start, end): opened, responded (in target),
    resolved (in target), still open."""
    result: dict[str, dict[str, int]] = {}
    for t in session.scalars(
        sa.select(SlaTicket).where(SlaTicket.opened_at >= start, SlaTicket.opened_at < end)
    ):
        line = result.setdefault(
            t.priority,
            dict.fromkeys(
                (
                    "opened",
                    "responded",
                    "responded_in_target",
                    "resolved",
                    "resolved_in_target",
                    "open",
                ),
                0,
            ),
        )
        line["opened"] += 1
        if t.responded_at is not None:
            line["responded"] += 1
            line["responded_in_target"] += t.responded_at <= t.response_due_at
        if t.resolved_at is not None:
            line["resolved"] += 1
            line["resolved_in_target"] += t.resolved_at <= t.resolution_due_at
        else:
            line["open"] += 1
    return dict(sorted(result.items()))
