"""Set-based transitions: one event fired on thousands of options with a few statements.

The guarantees are ``apply_event``'s, one option at a time: each option locked (``SELECT ...
FOR UPDATE``, in id order, ``CHUNK`` ids at a time, so two such runs never deadlock), the
machine decides (asked once per distinct (state, facts its guard reads), not once per option),
the status and version moved, the history row and follow-up message written in the caller's
transaction (``record_transitions``: COPY on PostgreSQL). Every statement names at most
``CHUNK`` ids, in one array parameter on PostgreSQL (``among``), so none nears the driver's
limit of 65,535 parameters. Reconciliation (hub.reconciliation) and expiry, bulk publish and
bulk cancel (actors/expiry.py, hub.positions.bulk_changes) and lapsed activations
(``expire_lapsed_activations``) go through here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from hub import clock
from hub.db import utcnow
from hub.models import PaymentOption
from hub.payments.lifecycle import Change, record_transitions
from workflows.payment import IllegalTransition, next_state, sources

CHUNK = 5000  # ids per statement, options locked per round
RELAY_LIMIT = 500  # more changes than this: their messages are left to the outbox sweeper
# the option's fields each guarded event reads, by the name the machine reads them under
GUARD_FACTS: dict[str, dict[str, Any]] = {
    "expire": {"expires_on": PaymentOption.retention_date.label("expires_on")},
    "activation_expired": {
        "activation_expires_at": PaymentOption.activation_expires_at.label("activation_expires_at")
    },
}
T = TypeVar("T")


def among(session: Session, column: Any, values: Iterable[Any]) -> sa.ColumnElement[bool]:
    """``column IN values``: on PostgreSQL one array parameter (``= ANY``), not one
    placeholder per value (a batch names thousands)."""
    values = list(values)
    if session.get_bind().dialect.name == "postgresql":
        return column == sa.any_(sa.bindparam(None, values, type_=sa.ARRAY(column.type)))
    return column.in_(values)


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """``items`` ``size`` at a time, in order."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def held(session: Session, model: type[Any]) -> dict[int, Any]:
    """The ``model`` objects the session holds, by id (one pass over its identity map). The
    id is read from the identity key, never from the object: one expired by a rolled-back
    savepoint would otherwise be loaded again (and its row may be gone)."""
    found: dict[int, Any] = {}
    for key in list(session.identity_map.keys()):
        if key[0] is model and len(key[1]) == 1:
            obj = session.identity_map.get(key)
            if obj is not None:
                found[key[1][0]] = obj
    return found


def lock_options(
    session: Session, option_ids: Iterable[int], *columns: Any
) -> dict[int, sa.Row[Any]]:
    """Lock the options (in id order, ``CHUNK`` at a time) and read their id, status and
    ``columns``; options that do not exist are left out."""
    every = sorted(set(option_ids))
    rows: dict[int, sa.Row[Any]] = {}
    for part in chunks(every):
        for row in session.execute(
            sa.select(PaymentOption.id, PaymentOption.status, *columns)
            .where(among(session, PaymentOption.id, part))
            .order_by(PaymentOption.id)
            .with_for_update()
        ):
            rows[row.id] = row
    return rows


def decide(event: str, rows: Iterable[sa.Row[Any]], now: dt.datetime) -> list[Change]:
    """Where ``event`` takes each locked option (rows of ``lock_options`` read with the
    event's ``GUARD_FACTS``), asked of the machine once per distinct (state, facts); the
    options it refuses are left out. In the order of ``rows``."""
    today = clock.business_date(now)
    names = list(GUARD_FACTS.get(event, {}))
    answers: dict[tuple[Any, ...], str | None] = {}
    changes: list[Change] = []
    for row in rows:
        key = (row.status, *(getattr(row, name) for name in names))
        if key not in answers:
            facts = dict(zip(names, key[1:], strict=True)) if names else None
            try:
                answers[key] = next_state(row.status, event, now=now, today=today, facts=facts)
            except IllegalTransition:
                answers[key] = None
        target = answers[key]
        if target is not None:
            changes.append((row.id, row.status, target))
    return changes


def move(
    session: Session,
    changes: Sequence[Change],
    event: str,
    *,
    cause: str | Sequence[str],
    now: dt.datetime,
    relay: bool | None = None,
) -> None:
    """Apply ``changes`` to options the caller has locked: one UPDATE per chunk and (from,
    to) pair, the objects this session holds brought in line, then the history rows and
    messages (``record_transitions``; ``relay`` defaults to relaying up to ``RELAY_LIMIT``
    changes after commit and leaving more to the outbox sweeper)."""
    if not changes:
        return
    session.flush()
    relay = len(changes) <= RELAY_LIMIT if relay is None else relay
    pairs: dict[tuple[str, str], list[int]] = {}
    for option_id, before, after in changes:
        pairs.setdefault((before, after), []).append(option_id)
    objects = held(session, PaymentOption)
    for (before, after), ids in pairs.items():
        for part in chunks(sorted(ids)):
            for option_id, version in session.execute(
                sa.update(PaymentOption)
                .where(among(session, PaymentOption.id, part), PaymentOption.status == before)
                .values(status=after, version=PaymentOption.version + 1)
                .returning(PaymentOption.id, PaymentOption.version)
                .execution_options(synchronize_session=False)
            ):
                obj = objects.get(option_id)
                if obj is not None:  # an option this session holds: as the lock refreshed it
                    set_committed_value(obj, "status", after)
                    set_committed_value(obj, "version", version)
    whys = [cause] * len(changes) if isinstance(cause, str) else list(cause)
    for start in range(0, len(changes), CHUNK):
        record_transitions(
            session,
            changes[start : start + CHUNK],
            event,
            cause=whys[start : start + CHUNK],
            now=now,
            relay=relay,
        )


def fire_many(
    session: Session,
    option_ids: Iterable[int],
    event: str,
    *,
    cause: str,
    now: dt.datetime,
    relay: bool | None = None,
) -> list[Change]:
    """``apply_event`` for many options at once: lock them, let the machine decide, move
    those it allows (in id order) and record it. Options it refuses (wrong state, guard not
    holding, gone) are left as they are: the answer lists only the changes made."""
    rows = lock_options(session, option_ids, *GUARD_FACTS.get(event, {}).values())
    changes = decide(event, rows.values(), now)
    move(session, changes, event, cause=cause, now=now, relay=relay)
    return changes


def expire_lapsed_activations(session: Session, now: dt.datetime | None = None) -> int:
    """Put back to payable every in-progress option whose activation lapsed without a
    receipt (``activation_expired``, cause ``scheduler``), set-based: after an outage of the
    Node thousands may lapse at once. Returns how many moved."""
    now = now or utcnow()
    ids = session.scalars(
        sa.select(PaymentOption.id).where(
            PaymentOption.status.in_(sources("activation_expired")),
            PaymentOption.activation_expires_at <= now,
        )
    ).all()
    return len(fire_many(session, ids, "activation_expired", cause="scheduler", now=now))
