"""What GPD's operations mean on our archive (the GPD-compatible API, web/gpd).

GPD's verbs map onto ``hub.positions.writer``; only what GPD has and our archive has not is
done here, on the ``gpd_position`` row (hub.models.gpd):

* publish with a validity date still ahead: GPD's position is PUBLISHED, payable from the
  validity date on. The options stay draft (the Node cannot pay them) and ``publish_due``
  publishes them once the date has come (run by the scheduler and before every GPD read);
* DELETE: the position is cancelled through the state machine (its history stays) and GPD's
  face no longer shows it;
* ``updateTransferIbanMassive``: every transfer of the Ente still payable at ``old_iban``
  moves to ``new_iban``, position by position under the writer's locks;
* ``setPaymentOptionAsAlreadyPaid``: the Ente says a notice was paid outside pagoPA
  (``set_already_paid``): the option becomes paid through the state machine with no receipt,
  its history's cause saying so.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub import clock, payments
from hub.db import utcnow
from hub.errors import (
    Conflict,
    DomainError,
    NotFound,
    OtherPlanInProgress,
    OtherPlanPaid,
    PaymentAlreadyPaid,
    PaymentCancelled,
    PaymentExpired,
    PaymentUnknown,
)
from hub.models import DebtPosition, Ente, GpdPosition, PaymentOption, Transfer
from hub.payments import plans
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
from workflows.payment import (
    CANCELLED_STATES,
    CHANGEABLE_STATES,
    CLOSED_STATES,
    EXPIRED_STATES,
    INITIAL_STATE,
    PAID_STATES,
    OptionStatus,
)

# the history's cause of an option the Ente said was paid outside pagoPA (no receipt)
ALREADY_PAID_CAUSE = "already paid outside pagoPA, no receipt"


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


def set_already_paid(
    session: Session, ente: Ente, notice_number: str, *, paid_at: dt.datetime | None, via: str
) -> PaymentOption:
    """GPD's setPaymentOptionAsAlreadyPaid: the notice was paid outside pagoPA. The option
    becomes paid (the whole amount, at ``paid_at`` or now) with no receipt, its history's
    cause ``<via>: already paid outside pagoPA, no receipt``; a receipt arriving later is a
    second payment (an anomaly and a refund case, as for any paid notice), and the option is
    not expected in a reporting flow (the dashboard's paid-not-reported list leaves it out).

    Raises NotFound (no such notice); PaymentUnknown (a draft: not published),
    PaymentCancelled, PaymentExpired (not payable); PaymentAlreadyPaid; Conflict (being paid
    at pagoPA right now); OtherPlanPaid, OtherPlanInProgress (another plan of the debt)."""
    option = payments.lock_option(session, ente.id, notice_number)
    if option is None:
        raise NotFound(f"no notice {notice_number}")
    now = utcnow()
    if option.status == INITIAL_STATE:
        raise PaymentUnknown(f"notice {notice_number} is not published")
    if option.status in PAID_STATES:
        raise PaymentAlreadyPaid(f"notice {notice_number} is already paid")
    if option.status in CANCELLED_STATES:
        raise PaymentCancelled(f"notice {notice_number} was cancelled")
    if option.status in EXPIRED_STATES:
        raise PaymentExpired(f"notice {notice_number} expired")
    if option.status == OptionStatus.IN_PROGRESS:
        raise Conflict(f"notice {notice_number} is being paid through pagoPA now")
    other = plans.blocking_state(session, option, now)
    if other == OptionStatus.PAID:
        raise OtherPlanPaid(f"notice {notice_number}: another plan of this debt is paid")
    if other == OptionStatus.IN_PROGRESS:
        raise OtherPlanInProgress(f"notice {notice_number}: another plan is being paid")
    payments.apply_event(
        session, option, "receive_receipt", cause=f"{via}: {ALREADY_PAID_CAUSE}", now=now
    )
    option.paid_cents += option.amount_cents
    option.paid_at = min(paid_at, now) if paid_at else now
    option.activation_expires_at = None
    return option
