"""Debt positions: the position's status is derived from its payment options' states."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.models import DebtPosition, PaymentOption
from workflows.payment import PAID_STATES as PAID


class OptionState(Protocol):
    """What derive_status reads of an option (a PaymentOption, or a stand-in for rows not yet
    built)."""

    @property
    def status(self) -> str: ...

    @property
    def instalment_count(self) -> int | None: ...


def derive_status(options: Iterable[OptionState]) -> str:
    """The position's status from its options.

    A position is settled when one single option ("pay in full") is paid, or every instalment
    of the plan is; then it is paid, reported or reconciled as its least advanced paid option.
    """
    options = list(options)
    if not options:
        return "draft"
    statuses = [o.status for o in options]
    singles = [o for o in options if o.instalment_count is None]
    plan = [o for o in options if o.instalment_count is not None]
    settled = [o for o in singles if o.status in PAID]
    if not settled and plan and all(o.status in PAID for o in plan):
        settled = plan
    if settled:
        if all(o.status == "reconciled" for o in settled):
            return "reconciled"
        if all(o.status in {"reported", "reconciled"} for o in settled):
            return "reported"
        return "paid"
    if any(s in PAID for s in statuses):
        return "partially_paid"
    for status in ("in_progress", "payable"):
        if status in statuses:
            return status
    if all(s == "cancelled" for s in statuses):
        return "cancelled"
    if all(s in {"cancelled", "expired"} for s in statuses):
        return "expired"
    return "draft"


def refresh_status(session: Session, position_id: int) -> str:
    """Recompute and store the position's status (idempotent); return it."""
    position = session.get(DebtPosition, position_id, with_for_update=True)
    if position is None:
        return "missing"
    options = session.scalars(
        sa.select(PaymentOption).where(PaymentOption.position_id == position_id)
    ).all()
    status = derive_status(options)
    if position.status != status:
        position.status = status
    return status
