"""The refund cases' steps of a business day, for the daily file (issue 16).

A step (opened, handed over, approved, ordered, refunded, rejected) belongs to the Europe/Rome
day it was taken on (its audit event's time) and to the file of the service of the case's debt
position (the generic file when the case names no known notice). The steps are read from the
audit trail (``refund.<event>``, written by ``hub.refunds.cases``), so a step is listed once,
on its day, with the amount it had then; the IBAN appears from the order on, masked.

A case about a test receipt (``receipt.test``) is a test too: its steps go in the test file
(hub.dailyfile.files) when the Ente or the service is active in test only, in no file
otherwise, never in a real one; every other case's steps go in the real file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.models import (
    AuditEvent,
    DebtPosition,
    Ente,
    PaymentOption,
    PaymentService,
    Receipt,
    RefundCase,
)
from hub.models.dailyfiles import GENERIC_SERVICE

STEP_ACTIONS = {  # audit action -> the step's name in the file (the state it reached)
    "refund.open": "opened",
    "refund.submit": "awaiting_decision",
    "refund.approve": "approved",
    "refund.order": "ordered",
    "refund.confirm": "refunded",
    "refund.reject": "rejected",
}
_SERVICE: sa.ColumnElement[str] = sa.func.coalesce(PaymentService.code, GENERIC_SERVICE)
# the Ente (joined) or the service of the row is active in test only (issue 15)
IN_TEST: sa.ColumnElement[bool] = sa.or_(
    Ente.production.is_(False), PaymentService.production.is_(False)
)


@dataclass(frozen=True)
class RefundStep:
    """One refund record of the file."""

    event_pk: int
    case_id: str
    step: str
    at: dt.datetime
    reason: str
    amount_cents: int
    notice_number: str | None
    iuv: str | None
    receipt_id: str | None
    iban: str | None  # masked
    bank_reference: str | None
    rejection_reason: str | None


def mask_iban(iban: str | None) -> str | None:
    """``IT60X0542811101000000123456`` -> ``IT60*******************3456``: the country, the
    check digits and the last four, enough to tell two accounts apart."""
    if not iban:
        return None
    return iban[:4] + "*" * max(0, len(iban) - 8) + iban[-4:]


def _query(ente_id: int, start: dt.datetime, end: dt.datetime, test: bool) -> sa.Select:
    target = sa.literal("refund_case:") + RefundCase.public_id
    query = (
        sa.select(
            AuditEvent.id,
            AuditEvent.action,
            AuditEvent.created_at,
            AuditEvent.detail,
            RefundCase.public_id,
            RefundCase.reason,
            RefundCase.amount_cents,
            RefundCase.payer_iban,
            RefundCase.bank_reference,
            RefundCase.rejection_reason,
            PaymentOption.notice_number,
            PaymentOption.iuv,
            Receipt.receipt_id,
            _SERVICE,
        )
        .select_from(AuditEvent)
        .join(RefundCase, target == AuditEvent.target)
        .outerjoin(PaymentOption, PaymentOption.id == RefundCase.option_id)
        .outerjoin(DebtPosition, DebtPosition.id == PaymentOption.position_id)
        .outerjoin(PaymentService, PaymentService.id == DebtPosition.service_id)
        .outerjoin(Receipt, Receipt.id == RefundCase.receipt_pk)
        .where(
            AuditEvent.ente_id == ente_id,
            AuditEvent.action.in_(list(STEP_ACTIONS)),
            AuditEvent.created_at >= start,
            AuditEvent.created_at < end,
        )
    )
    if not test:  # a case with no receipt, or a real one
        return query.where(sa.or_(Receipt.id.is_(None), Receipt.test.is_(False)))
    return query.join(Ente, Ente.id == AuditEvent.ente_id).where(Receipt.test.is_(True), IN_TEST)


def services_of_day(
    session: Session, ente_id: int, start: dt.datetime, end: dt.datetime, *, test: bool = False
) -> set[str]:
    """The services whose file lists a refund step between ``start`` and ``end`` (whose test
    file, with ``test``)."""
    query = _query(ente_id, start, end, test).with_only_columns(_SERVICE).distinct()
    return set(session.scalars(query))


def steps(
    session: Session,
    ente_id: int,
    service: str,
    start: dt.datetime,
    end: dt.datetime,
    *,
    test: bool = False,
) -> Iterator[RefundStep]:
    """The refund steps of one file (the test file, with ``test``), in the order taken."""
    query = (
        _query(ente_id, start, end, test)
        .where(_SERVICE.is_not_distinct_from(service))
        .order_by(AuditEvent.created_at, AuditEvent.id)
    )
    for row in session.execute(query):
        step = STEP_ACTIONS[row.action]
        detail = row.detail or {}
        amount = detail.get("amount_cents")
        yield RefundStep(
            event_pk=row.id,
            case_id=row.public_id,
            step=step,
            at=row.created_at,
            reason=row.reason,
            amount_cents=amount if isinstance(amount, int) else row.amount_cents,
            notice_number=row.notice_number,
            iuv=row.iuv,
            receipt_id=row.receipt_id,
            iban=mask_iban(row.payer_iban) if step in ("ordered", "refunded") else None,
            bank_reference=row.bank_reference if step == "refunded" else None,
            rejection_reason=row.rejection_reason if step == "rejected" else None,
        )
