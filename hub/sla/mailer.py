"""The SLA monitor's e-mail: rows of ``sla_mail`` written in the transaction that decides to
write, delivered afterwards by ``deliver_pending`` (the ``sla_send_mail`` actor, enqueued through
the outbox with the rows, and swept by the scheduler). ``sent_at`` is the instant the SMTP
server accepted the message: the moment a maintenance notice counts from.

A row that fails is tried again at the next run, up to ``MAX_ATTEMPTS``; its ``error`` says
why (no address, no message body).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from hub import actor_names, mail, outbox
from hub.config import Config
from hub.db import utcnow
from hub.models.sla_contract import SlaMail

log = structlog.get_logger(__name__)
MAX_ATTEMPTS = 8


def queue(
    session: Session,
    *,
    purpose: str,
    recipient: str,
    subject: str,
    body: str,
    ente_code: str | None = None,
    maintenance_id: int | None = None,
    ticket_id: int | None = None,
) -> SlaMail:
    """Write one message to send; the transaction's commit makes it exist (and enqueues its
    delivery)."""
    row = SlaMail(
        purpose=purpose,
        recipient=recipient[:256],
        subject=subject[:200],
        body=body,
        ente_code=ente_code,
        maintenance_id=maintenance_id,
        ticket_id=ticket_id,
        attempts=0,
    )
    session.add(row)
    pending = session.info.get(outbox.PENDING_KEY, [])  # this transaction's messages
    if not any(m.actor_name == actor_names.SLA_SEND_MAIL for m in pending):
        outbox.enqueue(session, actor_names.SLA_SEND_MAIL)
    return row


def deliver_pending(factory: Any, config: Config, now: Any = utcnow) -> tuple[int, int]:
    """Send every message not sent yet (oldest first); returns (sent, failed). Each message is
    sent and stamped in a transaction of its own (a row locked while it is sent, so two
    workers never send it twice)."""
    sent = failed = 0
    with factory() as session:
        ids = list(
            session.scalars(
                sa.select(SlaMail.id)
                .where(SlaMail.sent_at.is_(None), SlaMail.attempts < MAX_ATTEMPTS)
                .order_by(SlaMail.id)
            )
        )
    for mail_id in ids:
        with factory() as session, session.begin():
            row = session.get(SlaMail, mail_id, with_for_update={"skip_locked": True})
            if row is None or row.sent_at is not None:
                continue
            row.attempts += 1
            try:
                mail.send(config, to=[row.recipient], subject=row.subject, text=row.body)
            except (mail.MailError, ValueError) as exc:
                row.error = str(exc)[:200]
                failed += 1
                log.warning("sla.mail_failed", mail=row.id, purpose=row.purpose, error=row.error)
                continue
            row.sent_at = now()
            row.error = None
            sent += 1
    return sent, failed


def sent_at(session: Session, mail_id: int) -> dt.datetime | None:
    return session.scalar(sa.select(SlaMail.sent_at).where(SlaMail.id == mail_id))
