"""SEND notification fees: the cost of notifying a notice through SEND (Piattaforma
Notifiche), in euro cents, paid by the debtor with the notice.

As pagoPA's GPD does it: the fee is added to the option's amount and to the Ente's own
transfer (the first transfer crediting the Ente itself), so that the Node, the receipt and
the notice all say the same total; setting another fee later replaces the earlier one (the
difference is applied). paGetPaymentV2 carries the fee as the ``NOTIFICATION_FEE`` metadata
(soap/responses.py). Only while the option can change (draft or payable): a fee cannot change
what is being paid or was paid.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub import payments
from hub.db import utcnow
from hub.errors import Conflict
from hub.models import DebtPosition, Ente, NotificationFee, PaymentOption
from hub.positions.inputs import InvalidPosition
from hub.values.money import MAX_CENTS
from workflows.payment import CHANGEABLE_STATES


def set_notification_fee(
    session: Session, option_id: int, fee_cents: int, *, source: str = "api"
) -> PaymentOption:
    """Make ``fee_cents`` the option's notification fee; return the option (amounts updated).
    Raises InvalidPosition for a negative or too large fee, or an option without a transfer
    to the Ente; Conflict if the option is being paid, paid, cancelled or expired."""
    if fee_cents < 0 or fee_cents > MAX_CENTS:
        raise InvalidPosition("a notification fee is 0 or more euro cents", field="notificationFee")
    option = payments.lock_option_by_id(session, option_id)
    if option.status not in CHANGEABLE_STATES:
        raise Conflict(f"notice {option.notice_number} is {option.status}: its fee cannot change")
    ente = session.get(Ente, option.ente_id)
    assert ente is not None
    own = next(
        (
            t
            for t in sorted(option.transfers, key=lambda t: t.id_transfer)
            if t.beneficiary_fiscal_code == ente.fiscal_code and not t.stamp_hash
        ),
        None,
    )
    if own is None:
        raise InvalidPosition(
            "the option has no transfer to the Ente itself to carry the fee",
            field="notificationFee",
        )
    row = session.get(NotificationFee, option.id)
    delta = fee_cents - (row.fee_cents if row else 0)
    if option.amount_cents + delta > MAX_CENTS:
        raise InvalidPosition("the amount with the fee is too large", field="notificationFee")
    option.amount_cents += delta
    own.amount_cents += delta
    if row is None:
        session.add(NotificationFee(option_id=option.id, fee_cents=fee_cents, source=source))
    else:
        row.fee_cents, row.source, row.updated_at = fee_cents, source, utcnow()
    position = session.get(DebtPosition, option.position_id)
    assert position is not None
    position.updated_at = utcnow()  # a new version: the ACA feed sends the new amount
    session.flush()
    return option


def fees_of(session: Session, option_ids: Iterable[int]) -> dict[int, int]:
    """Each option's notification fee in cents (options without one are left out)."""
    ids = list(option_ids)
    if not ids:
        return {}
    rows = session.execute(
        sa.select(NotificationFee.option_id, NotificationFee.fee_cents).where(
            NotificationFee.option_id.in_(ids)
        )
    )
    return {option_id: cents for option_id, cents in rows}


def reapply(session: Session, options: Iterable[PaymentOption]) -> None:
    """After a replace rewrote these options' amounts and transfers: add each one's fee back
    (the fee stays until set again; a fee without a transfer to the Ente is refused)."""
    by_id = {o.id: o for o in options if o.id is not None}
    for option_id, fee in fees_of(session, by_id).items():
        option = by_id[option_id]
        ente = session.get(Ente, option.ente_id)
        assert ente is not None
        own = next(
            (
                t
                for t in sorted(option.transfers, key=lambda t: t.id_transfer)
                if t.beneficiary_fiscal_code == ente.fiscal_code and not t.stamp_hash
            ),
            None,
        )
        if own is None:
            raise InvalidPosition(
                "the option carries a notification fee: keep a transfer to the Ente itself",
                field="options",
            )
        option.amount_cents += fee
        own.amount_cents += fee
