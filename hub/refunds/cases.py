"""Refund cases: open, step through RefundFlow, audit, tell the Ente's back-office.

Every change happens in the caller's transaction: the case, its audit event and the webhook
deliveries (hub.notify.webhooks.notify writes the outbox message) are committed together or
not at all. Webhook payloads carry no personal data (no payer, no IBAN).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from hub.db import utcnow
from hub.errors import DomainError, NotFound
from hub.models import Anomaly, Ente, PaymentOption, Receipt, RefundCase
from hub.notify import webhooks
from hub.tenants import audit
from hub.values.identifiers import iban_problem
from hub.values.money import from_cents
from workflows.refund import (
    ENTE_EVENTS,
    OPEN_STATES,
    STATES,
    IllegalRefundStep,
    RefundFlow,
    RefundReason,
    RefundStatus,
)

log = structlog.get_logger(__name__)

# the anomalies that open a refund case with them
AUTOMATIC_REASONS = frozenset(
    {
        RefundReason.DOUBLE_PAYMENT,
        RefundReason.AMOUNT_MISMATCH,
        RefundReason.PAID_AFTER_CANCEL,
        RefundReason.PAID_AFTER_EXPIRY,
    }
)
# a receipt above the notice's amount by at most this much opens no case (a cent of rounding
# is not worth a bank transfer that costs more); below the amount nothing is to give back
AMOUNT_TOLERANCE_CENTS = 100
# one webhook event type per state a case reaches
EVENT_TYPES = tuple(f"refund.{state}" for state in STATES)
_EVENT_NAMESPACE = uuid.UUID("a4f8c0d2-4b1e-4f53-9a51-6c0de7f1e016")


class RefundError(DomainError):
    """A refund step that cannot be taken: its message says why, its code which rule."""

    code = "refund_error"


def open_case(
    session: Session,
    *,
    ente_id: int,
    reason: str,
    amount_cents: int,
    by: str,
    option_id: int | None = None,
    receipt_pk: int | None = None,
    anomaly_id: int | None = None,
    note: str | None = None,
    now: dt.datetime | None = None,
) -> RefundCase:
    """Open a case (state ``opened``), audited and sent to the Ente's back-office."""
    if amount_cents <= 0:
        raise RefundError("the amount to refund must be positive", code="refund_amount")
    now = now or utcnow()
    case = RefundCase(
        public_id=str(uuid.uuid4()),
        ente_id=ente_id,
        option_id=option_id,
        receipt_pk=receipt_pk,
        anomaly_id=anomaly_id,
        reason=RefundReason(reason).value,
        status=RefundStatus.OPENED.value,
        amount_cents=amount_cents,
        note=note[:2000] if note else None,
        opened_by=by[:100],
        created_at=now,
        updated_at=now,
    )
    session.add(case)
    session.flush()
    _record(session, case, "open", by=by, now=now, detail={"reason": case.reason})
    return case


def open_for_anomaly(
    session: Session, anomaly: Anomaly, *, amount_cents: int, now: dt.datetime | None = None
) -> RefundCase | None:
    """Open the case an anomaly calls for (``AUTOMATIC_REASONS``), unless its receipt already
    has one (a double payment that is also above the amount is one refund, not two)."""
    if anomaly.kind not in AUTOMATIC_REASONS or anomaly.ente_id is None or amount_cents <= 0:
        return None
    session.flush()
    if anomaly.receipt_pk is not None and session.scalar(
        sa.select(RefundCase.id).where(RefundCase.receipt_pk == anomaly.receipt_pk).limit(1)
    ):
        return None
    return open_case(
        session,
        ente_id=anomaly.ente_id,
        reason=anomaly.kind,
        amount_cents=amount_cents,
        by="hub",
        option_id=anomaly.option_id,
        receipt_pk=anomaly.receipt_pk,
        anomaly_id=anomaly.id,
        now=now,
    )


def open_on_request(
    session: Session,
    ente: Ente,
    notice_number: str,
    *,
    amount_cents: int,
    note: str,
    by: str,
    now: dt.datetime | None = None,
) -> RefundCase:
    """Support opens a case on a citizen's request, for a notice of ``ente`` that was paid
    (its latest receipt). Raises NotFound (no such paid notice) or RefundError (amount above
    what was paid, no note)."""
    if not note.strip():
        raise RefundError("say what the citizen asked for", code="refund_note")
    option = session.scalars(
        sa.select(PaymentOption).where(
            PaymentOption.ente_id == ente.id, PaymentOption.notice_number == notice_number
        )
    ).one_or_none()
    receipt = (
        session.scalars(
            sa.select(Receipt)
            .where(Receipt.option_id == option.id, Receipt.outcome == "OK")
            .order_by(Receipt.id.desc())
            .limit(1)
        ).first()
        if option is not None
        else None
    )
    if option is None or receipt is None:
        raise NotFound(f"no paid notice {notice_number} for this Ente")
    if amount_cents > option.paid_cents:
        raise RefundError(
            "the amount to refund is more than was paid for this notice", code="refund_amount"
        )
    return open_case(
        session,
        ente_id=ente.id,
        reason=RefundReason.CITIZEN_REQUEST,
        amount_cents=amount_cents,
        by=by,
        option_id=option.id,
        receipt_pk=receipt.id,
        note=note,
        now=now,
    )


def step(
    session: Session,
    case: RefundCase,
    event: str,
    *,
    by: str,
    as_support: bool,
    now: dt.datetime | None = None,
    rejection_reason: str | None = None,
    payer_iban: str | None = None,
    amount_cents: int | None = None,
    bank_reference: str | None = None,
) -> RefundCase:
    """Take one step of ``case`` (locked first) as ``by``: support hands a case over
    (``submit``) and may drop one not yet handed over (``reject`` while ``opened``); the
    Ente's operators ``approve``, ``reject``, ``order`` (the payer's IBAN, the amount, who)
    and ``confirm`` (the bank's reference). Raises RefundError (nothing changed) for a step
    the role may not take, a bad IBAN or amount, or one the machine refuses."""
    now = now or utcnow()
    session.refresh(case, with_for_update=True)
    if not _may(event, case.status, as_support=as_support):
        raise RefundError(
            f"{'support' if as_support else 'the Ente'} cannot {event!r} this case",
            code="refund_role",
        )
    before = case.status
    if event == "reject":
        case.rejection_reason = (rejection_reason or "").strip()[:2000] or None
    if event == "order":
        iban = (payer_iban or "").replace(" ", "").upper()
        if not iban or iban_problem(iban):
            raise RefundError("the payer's IBAN is not valid", code="refund_iban")
        if amount_cents is not None:
            if not 0 < amount_cents <= case.amount_cents:
                raise RefundError(
                    "the amount must be positive and at most the case's amount",
                    code="refund_amount",
                )
            case.amount_cents = amount_cents
        case.payer_iban, case.ordered_by, case.ordered_at = iban, by[:100], now
    if event == "confirm":
        case.bank_reference = (bank_reference or "").strip()[:100] or None
    try:
        RefundFlow(model=case, state_field="status").fire(event)
    except IllegalRefundStep as exc:
        session.refresh(case)  # forget the fields set above: nothing changed
        raise RefundError(str(exc), code="refund_step") from None
    if event in {"approve", "reject"}:
        case.decided_by, case.decided_at = by[:100], now
    if event == "confirm":
        case.refunded_at = now
    case.updated_at = now
    _record(session, case, event, by=by, now=now, detail={"from": before, "to": case.status})
    return case


def _may(event: str, status: str, *, as_support: bool) -> bool:
    if as_support:
        return event == "submit" or (event == "reject" and status == RefundStatus.OPENED)
    return event in ENTE_EVENTS and not (
        event == "reject" and status == RefundStatus.OPENED  # not handed over yet
    )


def _record(
    session: Session,
    case: RefundCase,
    event: str,
    *,
    by: str,
    now: dt.datetime,
    detail: dict[str, Any],
) -> None:
    recorded = audit.record(
        session,
        actor=by,
        action=f"refund.{event}",
        target=f"refund_case:{case.public_id}",
        ente_id=case.ente_id,
        # the amount as of this step (an order may lower it): the daily file's refund records
        detail={**detail, "amount_cents": case.amount_cents},
    )
    recorded.created_at = now  # the step's time: the day whose daily file lists it
    _notify(session, case, now)
    log.info("refund.step", case=case.public_id, refund_event=event, status=case.status)


def _notify(session: Session, case: RefundCase, now: dt.datetime) -> int:
    event_type = f"refund.{case.status}"
    endpoints = [
        e for e in webhooks.active_endpoints(session, case.ente_id) if event_type in e.events
    ]
    if not endpoints:
        return 0
    event_id = str(uuid.uuid5(_EVENT_NAMESPACE, f"{case.public_id}:{case.status}"))
    payload = event_payload(session, case, event_id, now)
    return sum(1 for e in endpoints if webhooks.notify(session, e, event_id, event_type, payload))


def event_payload(
    session: Session, case: RefundCase, event_id: str, now: dt.datetime
) -> dict[str, Any]:
    """What the Ente's back-office is told of a step: no personal data (no payer, no IBAN)."""
    ec = session.scalar(sa.select(Ente.fiscal_code).where(Ente.id == case.ente_id))
    option = session.get(PaymentOption, case.option_id) if case.option_id else None
    receipt = session.get(Receipt, case.receipt_pk) if case.receipt_pk else None
    return {
        "id": event_id,
        "type": f"refund.{case.status}",
        "occurredAt": now.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "enteFiscalCode": ec,
        "caseId": case.public_id,
        "reason": case.reason,
        "status": case.status,
        "amount": str(from_cents(case.amount_cents)),
        "noticeNumber": option.notice_number if option else None,
        "iuv": option.iuv if option else None,
        "receiptId": receipt.receipt_id if receipt else None,
        "bankReference": case.bank_reference,
        "rejectionReason": case.rejection_reason,
    }


def cases_for(
    session: Session, ente_ids: Iterable[int] | None, *, status: str | None = None
) -> list[RefundCase]:
    """Cases of these Enti (None: every Ente), open ones first, newest first."""
    query = sa.select(RefundCase)
    if ente_ids is not None:
        query = query.where(RefundCase.ente_id.in_(list(ente_ids)))
    if status:
        query = query.where(RefundCase.status == status)
    open_first = sa.case((RefundCase.status.in_([s.value for s in OPEN_STATES]), 0), else_=1)
    return list(session.scalars(query.order_by(open_first, RefundCase.id.desc()).limit(500)))


def find_case(session: Session, public_id: str) -> RefundCase:
    case = session.scalars(
        sa.select(RefundCase).where(RefundCase.public_id == public_id)
    ).one_or_none()
    if case is None:
        raise NotFound("no such refund case")
    return case


def open_refunds_for_options(session: Session, option_ids: Iterable[int]) -> list[RefundCase]:
    """Refund cases not closed (nor rejected) for these options: what a citizen is told."""
    ids = list(option_ids)
    if not ids:
        return []
    return list(
        session.scalars(
            sa.select(RefundCase).where(
                RefundCase.option_id.in_(ids),
                RefundCase.status != RefundStatus.REJECTED,
            )
        )
    )
