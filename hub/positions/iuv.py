"""Handing out notice numbers: one counter row per Ente, advanced under a row lock.

``UPDATE ... RETURNING`` takes the row lock, so concurrent transactions in any number of
processes each get their own block of IUV bases; a rolled-back transaction leaves a gap, never
a duplicate (and the unique constraint on (ente, notice_number) stays the last line of defence).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.models import Ente, IuvCounter
from hub.values.notice_numbers import NoticeNumber, build_notice_number

MAX_BASE = 10**13 - 1


def allocate_notice_numbers(session: Session, ente: Ente, count: int = 1) -> list[NoticeNumber]:
    """Reserve ``count`` new aux-3 notice numbers for ``ente`` in the caller's transaction.

    Raises ValueError for a count below 1 and DomainError (via build_notice_number) if the
    Ente's 13-digit IUV space is exhausted.
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    end = _advance(session, ente.id, count)
    if end is None:
        try:
            with session.begin_nested():
                session.add(IuvCounter(ente_id=ente.id, next_value=1))
                session.flush()
        except IntegrityError:
            pass  # another transaction created it first: fine, advance it below
        end = _advance(session, ente.id, count)
        assert end is not None
    start = end - count
    return [build_notice_number(ente.segregation_code, base) for base in range(start, end)]


def _advance(session: Session, ente_id: int, count: int) -> int | None:
    return session.execute(
        sa.update(IuvCounter)
        .where(IuvCounter.ente_id == ente_id)
        .values(next_value=IuvCounter.next_value + count)
        .returning(IuvCounter.next_value)
    ).scalar_one_or_none()
