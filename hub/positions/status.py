"""Debt positions: the position's status is derived from its payment options' states."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.models import DebtPosition, PaymentOption
from workflows.payment import CLOSED_STATES, PositionStatus
from workflows.payment import PAID_STATES as PAID
from workflows.payment import OptionStatus as Option


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
        return PositionStatus.DRAFT
    statuses = [o.status for o in options]
    singles = [o for o in options if o.instalment_count is None]
    plan = [o for o in options if o.instalment_count is not None]
    settled = [o for o in singles if o.status in PAID]
    if not settled and plan and all(o.status in PAID for o in plan):
        settled = plan
    if settled:
        if all(o.status == Option.RECONCILED for o in settled):
            return PositionStatus.RECONCILED
        if all(o.status in {Option.REPORTED, Option.RECONCILED} for o in settled):
            return PositionStatus.REPORTED
        return PositionStatus.PAID
    if any(s in PAID for s in statuses):
        return PositionStatus.PARTIALLY_PAID
    for status in (PositionStatus.IN_PROGRESS, PositionStatus.PAYABLE):
        if status in statuses:
            return status
    if all(s == Option.CANCELLED for s in statuses):
        return PositionStatus.CANCELLED
    if all(s in CLOSED_STATES for s in statuses):
        return PositionStatus.EXPIRED
    return PositionStatus.DRAFT


def refresh_status(session: Session, position_id: int) -> str:
    """Recompute and store the position's status (idempotent); return it."""
    position = session.get(DebtPosition, position_id, with_for_update=True)
    if position is None:
        return "missing"  # no such position, not a state
    options = session.scalars(
        sa.select(PaymentOption).where(PaymentOption.position_id == position_id)
    ).all()
    status = derive_status(options)
    if position.status != status:
        position.status = status
    return status
