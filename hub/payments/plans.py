"""Plans are exclusive: a debt is paid in full *or* by the instalments of one plan, not both.

A position's options form plans: each single option ("pay in full"; a position may offer
several, e.g. with and without a discount) is a plan of its own, and the instalments of one
``instalment_count`` are one plan. Once an option of one plan is paid, or activated with an
activation that has not lapsed, the options of every other plan are no longer payable
(``blocking_state``); instalments of the same plan stay payable one by one. A receipt that
arrives anyway is stored and settled as always and opens a ``double_payment`` anomaly
(``paid_by_other_plan``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.models import PaymentOption
from workflows.payment import PAID_STATES, OptionStatus

# "paid" outranks "in progress": a paid other plan is the stronger reason
_RANK = {OptionStatus.IN_PROGRESS.value: 1, **{s.value: 2 for s in PAID_STATES}}


def blocking_rank_query(now: Any) -> sa.ScalarSelect[Any]:
    """A correlated scalar subquery (for PaymentOption's row) of the strongest reason another
    plan blocks it: 2 = paid, 1 = in progress (activation not lapsed), NULL = none."""
    other = PaymentOption.__table__.alias("other_plan")

    # the states and ranks are written into the SQL (our own constants): the only binds left
    # are the caller's, so the station's fast path can run the query on the driver as it is
    def word(value: str) -> Any:
        return sa.literal_column(f"'{value}'")

    rank = sa.case(
        (other.c.status.in_([word(s.value) for s in sorted(PAID_STATES)]), sa.literal_column("2")),
        (
            sa.and_(
                other.c.status == word(OptionStatus.IN_PROGRESS.value),
                sa.or_(
                    other.c.activation_expires_at.is_(None),
                    other.c.activation_expires_at > now,
                ),
            ),
            sa.literal_column("1"),
        ),
        else_=sa.null(),
    )
    return (
        sa.select(sa.func.max(rank))
        .where(
            other.c.position_id == PaymentOption.position_id,
            other.c.id != PaymentOption.id,
            sa.or_(
                PaymentOption.instalment_count.is_(None),
                other.c.instalment_count.is_(None),
                other.c.instalment_count != PaymentOption.instalment_count,
            ),
        )
        .correlate(PaymentOption)
        .scalar_subquery()
    )


def state_of_rank(rank: int | None) -> str | None:
    """The blocking state a rank from ``blocking_rank_query`` stands for."""
    if rank == 2:
        return OptionStatus.PAID.value
    if rank == 1:
        return OptionStatus.IN_PROGRESS.value
    return None


def blocking_state(session: Session, option: PaymentOption, now: dt.datetime) -> str | None:
    """``paid`` if an option of another plan of ``option``'s position is paid (or reported,
    reconciled), ``in_progress`` if one is being paid, else None."""
    rank = session.scalar(
        sa.select(blocking_rank_query(now))
        .select_from(PaymentOption)
        .where(PaymentOption.id == option.id)
    )
    return state_of_rank(rank)


def paid_by_other_plan(session: Session, option: PaymentOption) -> list[str]:
    """Notice numbers of ``option``'s other plans already paid: a receipt for ``option`` now
    collects the debt twice."""
    other = PaymentOption.__table__.alias("other_plan")
    return list(
        session.scalars(
            sa.select(other.c.notice_number)
            .where(
                other.c.position_id == option.position_id,
                other.c.id != option.id,
                other.c.status.in_([s.value for s in PAID_STATES]),
                sa.or_(
                    sa.literal(option.instalment_count is None),
                    other.c.instalment_count.is_(None),
                    other.c.instalment_count != option.instalment_count,
                ),
            )
            .order_by(other.c.id)
        )
    )


def same_plan(a: PaymentOption, b: PaymentOption) -> bool:
    """Whether two options of one position belong to the same plan (the same option, or
    instalments of the same plan)."""
    if a.id == b.id:
        return True
    return a.instalment_count is not None and a.instalment_count == b.instalment_count
