"""Publishing or cancelling many positions at once, set-based: a bulk load's positions, or
GPD's positions whose validity date has come.

``publish_positions`` and ``cancel_positions`` do for a list of positions what
``writer.publish_position`` and ``writer.cancel_position`` do for one, with the same
refusals (``writer.ensure_changeable``: a position with an option in progress or paid, or
with nothing left to cancel, is left as it is), through hub.payments.setbased: every option
locked in id order, ``CHUNK`` at a time, the machine asked once per state, one UPDATE per
chunk, history rows and follow-up messages in bulk, the positions' status derived from their
options (``derive_status``) and written with one UPDATE per status.

``change_load_chunk`` takes the next ``CHUNK`` positions a bulk load
created (by id, after the last one done) so one actor message does one chunk and writes the
message for the next (actors/bulk.py); a redelivered message changes nothing twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from hub import actor_names, outbox
from hub.db import utcnow
from hub.errors import Conflict
from hub.models import BulkLoad, BulkLoadStatus, DebtPosition, PaymentOption
from hub.payments import setbased
from hub.positions.bulk import is_dry_run
from hub.positions.status import derive_status
from workflows.payment import CHANGEABLE_STATES, CLOSED_STATES

# the actor that publishes or cancels a bulk load's positions, by event
ACTORS = {"publish": actor_names.PUBLISH_BULK_LOAD, "cancel": actor_names.CANCEL_BULK_LOAD}
CHUNK = setbased.CHUNK  # positions per message


def publish_positions(
    session: Session, position_ids: Iterable[int], *, cause: str, now: dt.datetime | None = None
) -> list[int]:
    """Publish every changeable position of ``position_ids`` (its draft options made payable,
    ``published_at`` set if unset); return the ids of those published, in id order."""
    return _change(session, position_ids, "publish", cause=cause, now=now or utcnow())


def cancel_positions(
    session: Session, position_ids: Iterable[int], *, cause: str, now: dt.datetime | None = None
) -> list[int]:
    """Cancel every changeable position of ``position_ids`` (its draft and payable options
    cancelled); return the ids of those cancelled, in id order."""
    return _change(session, position_ids, "cancel", cause=cause, now=now or utcnow())


def request_load_change(session: Session, load: BulkLoad, event: str, *, cause: str) -> None:
    """Write the first message that publishes (``event`` "publish") or cancels ("cancel")
    every position ``load`` created, sent after commit. Raises Conflict for a dry run
    (it created nothing) or a load not finished (its last positions are still to come)."""
    if is_dry_run(load):
        raise Conflict("a dry run created no positions")
    if load.status != BulkLoadStatus.DONE:
        raise Conflict(f"the load is {load.status.value}: wait until it is done")
    outbox.enqueue(session, ACTORS[event], load_id=load.id, cause=cause[:200])


def change_load_chunk(
    session: Session,
    load_id: int,
    event: str,
    *,
    after: int = 0,
    chunk: int | None = None,
    cause: str,
) -> tuple[int, int | None]:
    """Publish (``event`` "publish") or cancel ("cancel") the next ``chunk`` positions of
    bulk load ``load_id`` with an id above ``after``: (how many were changed, the last
    position id taken if the chunk was full, else None: nothing left)."""
    chunk = chunk or CHUNK
    ids = list(
        session.scalars(
            sa.select(DebtPosition.id)
            .where(DebtPosition.bulk_load_id == load_id, DebtPosition.id > after)
            .order_by(DebtPosition.id)
            .limit(chunk)
        )
    )
    done = _change(session, ids, event, cause=cause, now=utcnow())
    return len(done), (ids[-1] if len(ids) == chunk else None)


def _change(
    session: Session, position_ids: Iterable[int], event: str, *, cause: str, now: dt.datetime
) -> list[int]:
    session.flush()
    wanted = sorted(set(position_ids))
    option_ids: list[int] = []
    for part in setbased.chunks(wanted):
        option_ids += session.scalars(
            sa.select(PaymentOption.id).where(
                setbased.among(session, PaymentOption.position_id, part)
            )
        )
    rows = setbased.lock_options(
        session, option_ids, PaymentOption.position_id, PaymentOption.instalment_count
    )
    by_position: dict[int, list[sa.Row[Any]]] = {}
    for row in rows.values():
        by_position.setdefault(row.position_id, []).append(row)
    changeable = [p for p in wanted if _changeable(by_position.get(p, []))]
    changes = setbased.decide(event, (row for p in changeable for row in by_position[p]), now)
    setbased.move(session, changes, event, cause=cause, now=now)
    status = {option_id: row.status for option_id, row in rows.items()}
    status.update((option_id, after) for option_id, _, after in changes)
    _update_positions(session, event, changeable, by_position, status, now)
    return changeable


def _changeable(options: Sequence[sa.Row[Any]]) -> bool:
    """What ``writer.ensure_changeable`` lets through: nothing being paid or paid, something
    still live."""
    states = {row.status for row in options}
    return (
        bool(states)
        and states <= CHANGEABLE_STATES | CLOSED_STATES
        and bool(states & CHANGEABLE_STATES)
    )


class _Option:
    """What derive_status reads of an option, after the change."""

    __slots__ = ("instalment_count", "status")

    def __init__(self, status: str, instalment_count: int | None) -> None:
        self.status = status
        self.instalment_count = instalment_count


def _update_positions(
    session: Session,
    event: str,
    position_ids: Sequence[int],
    by_position: dict[int, list[sa.Row[Any]]],
    status: dict[int, str],
    now: dt.datetime,
) -> None:
    """Each position's derived status, as the one-position writer stores it: cancelling
    always touches the position (``updated_at``), publishing only when its status or
    ``published_at`` changes."""
    if not position_ids:
        return
    current = {
        p: (s, published)
        for part in setbased.chunks(list(position_ids))
        for p, s, published in session.execute(
            sa.select(DebtPosition.id, DebtPosition.status, DebtPosition.published_at).where(
                setbased.among(session, DebtPosition.id, part)
            )
        )
    }
    groups: dict[str, list[int]] = {}
    for p in position_ids:
        derived = derive_status(
            _Option(status[row.id], row.instalment_count) for row in by_position[p]
        )
        before, published = current[p]
        if event == "cancel" or derived != before or published is None:
            groups.setdefault(derived, []).append(p)
    values: dict[str, Any] = {"updated_at": now}
    if event == "publish":
        values["published_at"] = sa.func.coalesce(DebtPosition.published_at, now)
    held = setbased.held(session, DebtPosition)
    for derived, ids in groups.items():
        for part in setbased.chunks(ids):
            for p, version, published_at, updated_at in session.execute(
                sa.update(DebtPosition)
                .where(setbased.among(session, DebtPosition.id, part))
                .values(status=derived, version=DebtPosition.version + 1, **values)
                .returning(
                    DebtPosition.id,
                    DebtPosition.version,
                    DebtPosition.published_at,
                    DebtPosition.updated_at,
                )
                .execution_options(synchronize_session=False)
            ):
                obj = held.get(p)
                if obj is not None:  # a position this session holds: brought in line
                    for name, value in (
                        ("status", derived),
                        ("version", version),
                        ("published_at", published_at),
                        ("updated_at", updated_at),
                    ):
                        set_committed_value(obj, name, value)
