"""The contract's help desk: tickets with a description, a reporter (an Ente's referente or a
citizen), an owner, a severity and its rationale, a state (workflows.ticket), a history and
two clocks in business time (hub.calendar, the help desk's hours):

- **take-over**: from opening to take-over; the contract wants 90 % within 60 minutes;
- **fix**: from opening to resolution, less the time spent waiting for the reporter (the
  clock is paused); 85 % of blocking tickets within 240 minutes, 85 % of non-blocking within
  480 minutes.

The reporter is e-mailed (hub.sla.mailer) when the ticket is taken over and when it is
resolved. Every change writes a ``sla_ticket_event``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.calendar import BusinessCalendar
from hub.models.sla import SlaTicket
from hub.models.sla_contract import SlaTicketEvent
from hub.sla import mailer
from workflows.ticket import (
    PAUSED_STATES,
    IllegalTicketTransition,
    TicketState,
    allowed,
    next_state,
)

SEVERITIES = ("blocking", "non_blocking")
REPORTERS = ("referente", "citizen")
TAKE_OVER_MINUTES = 60
FIX_MINUTES = {"blocking": 240, "non_blocking": 480}


class HelpdeskError(ValueError):
    """A ticket that does not exist, bad input, or a change its state does not allow."""


@dataclass(frozen=True)
class TicketInput:
    subject: str
    description: str
    severity: str
    severity_reason: str
    reporter_kind: str
    reporter_name: str
    reporter_email: str | None = None
    ente_code: str | None = None

    def check(self) -> None:
        if not self.subject.strip():
            raise HelpdeskError("a ticket needs a subject")
        if self.severity not in SEVERITIES:
            raise HelpdeskError(f"severity: one of {', '.join(SEVERITIES)}")
        if self.reporter_kind not in REPORTERS:
            raise HelpdeskError(f"reporter: one of {', '.join(REPORTERS)}")
        if not self.reporter_name.strip():
            raise HelpdeskError("who reported it?")
        email = (self.reporter_email or "").strip()
        if email and ("@" not in email or any(c in email for c in " \r\n<>,;")):
            raise HelpdeskError("the reporter's e-mail address is not valid")


def open_ticket(
    session: Session, calendar: BusinessCalendar, data: TicketInput, now: dt.datetime, actor: str
) -> SlaTicket:
    data.check()
    ticket = SlaTicket(
        subject=data.subject.strip()[:200],
        description=data.description.strip(),
        severity=data.severity,
        severity_reason=data.severity_reason.strip()[:500],
        priority="high" if data.severity == "blocking" else "medium",
        reporter_kind=data.reporter_kind,
        reporter_name=data.reporter_name.strip()[:140],
        reporter_email=(data.reporter_email or "").strip()[:256] or None,
        ente_code=data.ente_code or None,
        opened_at=now,
        response_due_at=calendar.deadline(now, dt.timedelta(minutes=TAKE_OVER_MINUTES)),
        resolution_due_at=calendar.deadline(now, dt.timedelta(minutes=FIX_MINUTES[data.severity])),
        state=TicketState.OPENED.value,
        paused_seconds=0.0,
    )
    session.add(ticket)
    session.flush()
    session.add(
        SlaTicketEvent(
            ticket_id=ticket.id,
            at=now,
            event="open",
            from_state=None,
            to_state=ticket.state,
            actor=actor,
            note=None,
        )
    )
    return ticket


def get(session: Session, ticket_id: int, lock: bool = False) -> SlaTicket:
    ticket = session.get(SlaTicket, ticket_id, with_for_update=lock or None)
    if ticket is None:
        raise HelpdeskError(f"no ticket {ticket_id}")
    return ticket


def events_allowed(ticket: SlaTicket) -> tuple[str, ...]:
    return allowed(ticket.state)


def fire(
    session: Session,
    calendar: BusinessCalendar,
    ticket_id: int,
    event: str,
    now: dt.datetime,
    actor: str,
    note: str | None = None,
    owner: str | None = None,
) -> SlaTicket:
    """Apply ``event`` (workflows.ticket) to the ticket, with its clocks, history and e-mail.
    HelpdeskError if the state does not allow it."""
    ticket = get(session, ticket_id, lock=True)
    before = ticket.state
    try:
        after = next_state(before, event)
    except IllegalTicketTransition as exc:
        raise HelpdeskError(str(exc)) from None
    if before in PAUSED_STATES and ticket.paused_since is not None:
        ticket.paused_seconds += calendar.business_elapsed(ticket.paused_since, now).total_seconds()
        ticket.paused_since = None
    if after in PAUSED_STATES:
        ticket.paused_since = now
    first_take_over = ticket.responded_at is None and after in (
        TicketState.TAKEN_OVER,
        TicketState.RESOLVED,
    )
    if first_take_over:
        ticket.responded_at = now
        ticket.owner = ticket.owner or owner or actor
    if owner:
        ticket.owner = owner[:100]
    if after == TicketState.RESOLVED:
        ticket.resolved_at = now
    if after == TicketState.CLOSED:
        ticket.closed_at = now
    if event == "reopen":
        ticket.resolved_at = None
        ticket.closed_at = None
    ticket.state = after.value
    session.add(
        SlaTicketEvent(
            ticket_id=ticket.id,
            at=now,
            event=event,
            from_state=before,
            to_state=after.value,
            actor=actor[:100],
            note=(note or "").strip() or None,
        )
    )
    if ticket.reporter_email and (first_take_over and event == "take_over"):
        _mail(session, ticket, "taken over", note)
    if ticket.reporter_email and after == TicketState.RESOLVED:
        _mail(session, ticket, "resolved", note)
    session.flush()
    return ticket


def _mail(session: Session, ticket: SlaTicket, what: str, note: str | None) -> None:
    italian = {"taken over": "preso in carico", "resolved": "risolto"}[what]
    lines = [
        f"Gentile {ticket.reporter_name},",
        "",
        f"la sua segnalazione n. {ticket.id} «{ticket.subject}» è stata {italian}"
        + (f" da {ticket.owner}." if ticket.owner else "."),
        f"Your ticket no. {ticket.id} has been {what}.",
    ]
    if note:
        lines += ["", note.strip()]
    mailer.queue(
        session,
        purpose="ticket",
        recipient=ticket.reporter_email or "",
        subject=f"[payhub] Segnalazione {ticket.id}: {italian} / ticket {what}",
        body="\n".join(lines) + "\n",
        ente_code=ticket.ente_code,
        ticket_id=ticket.id,
    )


def history(session: Session, ticket_id: int) -> list[SlaTicketEvent]:
    return list(
        session.scalars(
            sa.select(SlaTicketEvent)
            .where(SlaTicketEvent.ticket_id == ticket_id)
            .order_by(SlaTicketEvent.at, SlaTicketEvent.id)
        )
    )


# -- clocks -----------------------------------------------------------------------------------
def take_over_minutes(ticket: SlaTicket, calendar: BusinessCalendar, now: dt.datetime) -> float:
    """Business minutes from opening to take-over (to ``now`` while not taken over)."""
    end = ticket.responded_at or now
    return calendar.business_elapsed(ticket.opened_at, end).total_seconds() / 60


def fix_minutes(ticket: SlaTicket, calendar: BusinessCalendar, now: dt.datetime) -> float:
    """Business minutes from opening to resolution less the time paused (to ``now`` while
    open; a pause still running is not counted)."""
    end = ticket.resolved_at or now
    paused = ticket.paused_seconds
    if ticket.paused_since is not None and ticket.resolved_at is None:
        paused += calendar.business_elapsed(ticket.paused_since, now).total_seconds()
    total = calendar.business_elapsed(ticket.opened_at, end).total_seconds() - paused
    return max(total, 0.0) / 60


def listing(session: Session, open_only: bool = False) -> list[SlaTicket]:
    query = sa.select(SlaTicket).order_by(SlaTicket.opened_at.desc(), SlaTicket.id.desc())
    if open_only:
        query = query.where(SlaTicket.resolved_at.is_(None))
    return list(session.scalars(query))


@dataclass
class Figure:
    """One contract figure over a period: how many counted, how many within target."""

    key: str
    target_percent: float
    count: int
    within: int

    @property
    def percent(self) -> float | None:
        return round(100 * self.within / self.count, 2) if self.count else None

    @property
    def met(self) -> bool | None:
        return None if self.percent is None else self.percent >= self.target_percent


def figures(
    session: Session,
    calendar: BusinessCalendar,
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
) -> dict[str, tuple[int, int]]:
    """(count, within) of the period's tickets (opened in [start, end)) for each clock:
    ``take_over`` (every ticket taken over, or still waiting past its 60 minutes),
    ``fix_blocking`` and ``fix_non_blocking`` (tickets resolved, or open past their target).
    A ticket still running within its target is not counted yet."""
    counts = {"take_over": [0, 0], "fix_blocking": [0, 0], "fix_non_blocking": [0, 0]}
    rows = session.scalars(
        sa.select(SlaTicket).where(
            SlaTicket.opened_at >= start,
            SlaTicket.opened_at < end,
            SlaTicket.severity.is_not(None),
        )
    )
    for t in rows:
        minutes = take_over_minutes(t, calendar, now)
        if t.responded_at is not None or minutes > TAKE_OVER_MINUTES:
            counts["take_over"][0] += 1
            counts["take_over"][1] += t.responded_at is not None and minutes <= TAKE_OVER_MINUTES
        severity = t.severity or "non_blocking"
        limit = FIX_MINUTES[severity]
        minutes = fix_minutes(t, calendar, now)
        if t.resolved_at is not None or minutes > limit:
            key = f"fix_{severity}"
            counts[key][0] += 1
            counts[key][1] += t.resolved_at is not None and minutes <= limit
    return {k: (v[0], v[1]) for k, v in counts.items()}
