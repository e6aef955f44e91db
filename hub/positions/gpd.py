"""What GPD's operations mean on our archive (the GPD-compatible API, web/gpd).

GPD's verbs map onto ``hub.positions.writer``; only what GPD has and our archive has not is
done here, on the ``gpd_position`` row (hub.models.gpd):

* publish with a validity date still ahead: GPD's position is PUBLISHED, payable from the
  validity date on. The options stay draft (the Node cannot pay them) and ``publish_due``
  publishes them once the date has come (run by the scheduler and before every GPD read);
* DELETE: the position is cancelled through the state machine (its history stays) and GPD's
  face no longer shows it;
* ``updateTransferIbanMassive``: every transfer of the Ente still payable at ``old_iban``
  moves to ``new_iban``, position by position under the writer's locks.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub import clock
from hub.db import utcnow
from hub.errors import DomainError
from hub.models import DebtPosition, Ente, GpdPosition, PaymentOption, Transfer
from hub.positions import bulk_changes
from hub.positions.bulk_changes import publish_positions
from hub.positions.status import derive_status
from hub.positions.writer import (
    cancel_position,
    ensure_changeable,
    lock_options,
    publish_position,
)
from hub.values import identifiers
from workflows.payment import CHANGEABLE_STATES, CLOSED_STATES


def facts(session: Session, position: DebtPosition) -> GpdPosition | None:
    return session.get(GpdPosition, position.id)


def publish(
    session: Session, position: DebtPosition, gpd: GpdPosition | None, *, cause: str
) -> None:
    """GPD's publish: payable now, or from the validity date if it is still ahead."""
    ensure_changeable(lock_options(session, position))
    if gpd is not None and gpd.validity_date is not None and gpd.validity_date > clock.now():
        gpd.publish_pending = True
        return
    if gpd is not None:
        gpd.publish_pending = False
    publish_position(session, position, cause=cause)


def publish_due(
    session: Session, *, ente_id: int | None = None, limit: int = bulk_changes.CHUNK
) -> int:
    """Publish the positions whose validity date has come (GPD: PUBLISHED -> VALID); return
    how many. Idempotent; a position changed meanwhile so that it can no longer be published
    (cancelled, being paid) is left as it is and no longer pending."""
    query = (
        sa.select(GpdPosition)
        .where(
            GpdPosition.publish_pending.is_(True),
            GpdPosition.deleted_at.is_(None),
            GpdPosition.validity_date <= clock.now(),
        )
        .order_by(GpdPosition.position_id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if ente_id is not None:
        query = query.join(DebtPosition, DebtPosition.id == GpdPosition.position_id).where(
            DebtPosition.ente_id == ente_id
        )
    due = list(session.scalars(query))
    for gpd in due:
        gpd.publish_pending = False
    # set-based (hub.positions.bulk_changes): a position that can no longer be published is
    # left as it is, as ensure_changeable refuses it one at a time
    return len(publish_positions(session, [g.position_id for g in due], cause="gpd:validity_date"))


def delete(
    session: Session, position: DebtPosition, gpd: GpdPosition | None, *, cause: str
) -> None:
    """GPD's DELETE: cancel every option (raises as writer.cancel_position) and hide it."""
    cancel_position(session, position, cause=cause)
    if gpd is not None:
        gpd.deleted_at = utcnow()
        gpd.publish_pending = False


def update_iban(session: Session, ente: Ente, old_iban: str, new_iban: str, *, limit: int) -> int:
    """Move the Ente's transfers at ``old_iban`` to ``new_iban`` on positions that can still
    change (nothing being paid or paid), at most ``limit`` positions; return how many
    transfers changed. Raises DomainError for an invalid new IBAN; the same IBAN twice
    changes nothing (and is not checked)."""
    if old_iban == new_iban:
        return 0
    problem = identifiers.iban_problem(new_iban)
    if problem:
        raise DomainError(f"newIban: {problem}")
    position_ids = session.scalars(
        sa.select(PaymentOption.position_id)
        .join(Transfer, Transfer.option_id == PaymentOption.id)
        .where(
            PaymentOption.ente_id == ente.id,
            Transfer.iban == old_iban,
            PaymentOption.status.in_(CHANGEABLE_STATES),
        )
        .distinct()
        .order_by(PaymentOption.position_id)
        .limit(limit)
    ).all()
    changed = 0
    for position_id in position_ids:
        position = session.get(DebtPosition, position_id, with_for_update=True)
        if position is None:
            continue
        options = lock_options(session, position)
        if any(o.status not in CHANGEABLE_STATES | CLOSED_STATES for o in options):
            continue  # being paid meanwhile: left as it is
        for option in options:
            if option.status not in CHANGEABLE_STATES:
                continue
            for transfer in option.transfers:
                if transfer.iban == old_iban:
                    transfer.iban = new_iban
                    changed += 1
        position.status = derive_status(position.options)
        position.updated_at = utcnow()
    return changed


def validity_instant(value: dt.datetime | None) -> dt.datetime | None:
    """A GPD date-time (offset-less ones are Italian time) as an aware UTC instant."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=clock.ROME)
    return value.astimezone(dt.UTC)
