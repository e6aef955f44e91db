"""Planned maintenance: windows planned in /ops, notices e-mailed to every affected Ente's
referente, the lead time measured against the contract's 3 calendar days.

A window names its start, expected end, what is affected, and the Enti affected (none: every
Ente). Planning it queues one notice per referente (hub.sla.mailer); the notice's lead time
is from the instant the SMTP server accepted it (``sla_mail.sent_at``) to the window's start.
A window is on time when every notice it needed went out at least 3 days (72 hours) before it
started; a notice never sent, or an Ente without a referente's address, makes it late. The
contract wants 90 % of windows on time per four months. During a window the citizen pages
show a banner (``active``), and the availability probes' slots in it are excused.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.clock import ROME
from hub.models import Ente
from hub.models.sla_contract import SlaMail, SlaMaintenance
from hub.sla import mailer

LEAD = dt.timedelta(days=3)
TARGET_PERCENT = 90.0


class MaintenanceError(ValueError):
    pass


def plan(
    session: Session,
    *,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    affects: str,
    ente_codes: list[str],
    actor: str,
    now: dt.datetime,
) -> SlaMaintenance:
    """Plan a window and queue its notices; MaintenanceError for a window that ends before
    it starts, has no description, or names an Ente that does not exist."""
    if ends_at <= starts_at:
        raise MaintenanceError("the expected end must come after the start")
    if not affects.strip():
        raise MaintenanceError("say what is affected")
    codes = sorted({c.strip() for c in ente_codes if c.strip()})
    enti = list(
        session.scalars(
            sa.select(Ente).where(Ente.fiscal_code.in_(codes)) if codes else sa.select(Ente)
        )
    )
    missing = set(codes) - {e.fiscal_code for e in enti}
    if missing:
        raise MaintenanceError(f"no Ente {', '.join(sorted(missing))}")
    window = SlaMaintenance(
        starts_at=starts_at,
        ends_at=ends_at,
        affects=affects.strip()[:500],
        ente_codes=codes,
        created_by=actor[:100],
        created_at=now,
    )
    session.add(window)
    session.flush()
    start, end = starts_at.astimezone(ROME), ends_at.astimezone(ROME)
    for ente in enti:
        if not ente.referente_email:
            continue
        mailer.queue(
            session,
            purpose="maintenance",
            recipient=ente.referente_email,
            subject=f"[payhub] Manutenzione programmata {start:%d/%m/%Y %H:%M}",
            body=(
                f"Gentile {ente.referente_name or 'referente'} ({ente.name}),\n\n"
                "vi informiamo di un intervento di manutenzione programmata:\n"
                f"  inizio:       {start:%d/%m/%Y %H:%M}\n"
                f"  fine prevista: {end:%d/%m/%Y %H:%M}\n"
                f"  servizi interessati: {window.affects}\n\n"
                "Planned maintenance: from "
                f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} (Europe/Rome); "
                f"affected: {window.affects}\n"
            ),
            ente_code=ente.fiscal_code,
            maintenance_id=window.id,
        )
    return window


def cancel(session: Session, window_id: int, now: dt.datetime) -> SlaMaintenance:
    window = session.get(SlaMaintenance, window_id, with_for_update=True)
    if window is None:
        raise MaintenanceError(f"no maintenance window {window_id}")
    window.cancelled_at = window.cancelled_at or now
    return window


def active(
    session: Session, now: dt.datetime, ente_code: str | None = None
) -> SlaMaintenance | None:
    """The window in progress at ``now`` (for ``ente_code``, when given), if any."""
    rows = session.scalars(
        sa.select(SlaMaintenance)
        .where(
            SlaMaintenance.cancelled_at.is_(None),
            SlaMaintenance.starts_at <= now,
            SlaMaintenance.ends_at > now,
        )
        .order_by(SlaMaintenance.starts_at)
    )
    for window in rows:
        if not window.ente_codes or ente_code is None or ente_code in window.ente_codes:
            return window
    return None


@dataclass
class WindowLine:
    window: SlaMaintenance
    notices: int
    sent: int
    lead_hours: float | None  # the shortest lead of its notices (None: some not sent)
    on_time: bool


def windows(
    session: Session, start: dt.datetime, end: dt.datetime, upcoming: bool = False
) -> list[WindowLine]:
    """The windows that start in [start, end) (not cancelled), each with its notices' lead."""
    query = sa.select(SlaMaintenance).where(SlaMaintenance.cancelled_at.is_(None))
    if not upcoming:
        query = query.where(SlaMaintenance.starts_at >= start, SlaMaintenance.starts_at < end)
    else:
        query = query.where(SlaMaintenance.ends_at > start)
    result = []
    for window in session.scalars(query.order_by(SlaMaintenance.starts_at)):
        mails = list(
            session.scalars(
                sa.select(SlaMail).where(
                    SlaMail.maintenance_id == window.id, SlaMail.purpose == "maintenance"
                )
            )
        )
        sent = [m for m in mails if m.sent_at is not None]
        lead = (
            min((window.starts_at - m.sent_at) for m in sent if m.sent_at is not None)
            if sent and len(sent) == len(mails)
            else None
        )
        result.append(
            WindowLine(
                window=window,
                notices=len(mails),
                sent=len(sent),
                lead_hours=None if lead is None else round(lead.total_seconds() / 3600, 1),
                on_time=bool(mails) and lead is not None and lead >= LEAD,
            )
        )
    return result


def figure(session: Session, start: dt.datetime, end: dt.datetime) -> tuple[int, int]:
    """(windows, windows noticed at least 3 days ahead) of those that started in the period."""
    lines = windows(session, start, end)
    return len(lines), sum(line.on_time for line in lines)
