"""Changing and cancelling debt positions after creation, only while nothing is being paid.

A position can be changed while each of its options is draft or payable. Options are matched
by notice number: a matched option is updated in place (its transfers replaced), an option
the new data leaves out is cancelled through the state machine (its history stays), an option
without a notice number is new. Cancelling cancels every option, through the state machine.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from hub import payments
from hub.db import utcnow
from hub.debts import InvalidPosition, OptionIn, PositionIn, publish_position, validate
from hub.errors import Conflict
from hub.iuv import allocate_notice_numbers
from hub.models import DebtPosition, Ente, PaymentOption, Transfer
from hub.notices import parse_notice_number
from hub.positions import derive_status

CHANGEABLE = frozenset({"draft", "payable"})
FINAL = frozenset({"cancelled", "expired"})


class PositionBusy(Conflict):
    """An option of the position is in progress or paid: it can no longer be changed."""

    code = "position_busy"


def lock_options(session: Session, position: DebtPosition) -> list[PaymentOption]:
    """Lock every option of ``position`` (in id order, so concurrent lockers cannot deadlock)."""
    return [payments.lock_option_by_id(session, o.id) for o in sorted(position.options,
                                                                     key=lambda o: o.id)]


def ensure_changeable(options: list[PaymentOption]) -> list[PaymentOption]:
    """Return the live (not cancelled/expired) options; raise PositionBusy if one is being
    paid or paid, Conflict if none is live."""
    busy = [o for o in options if o.status not in CHANGEABLE | FINAL]
    if busy:
        raise PositionBusy(f"notice {busy[0].notice_number} is {busy[0].status}")
    live = [o for o in options if o.status in CHANGEABLE]
    if not live:
        raise Conflict("the position is cancelled or expired")
    return live


def cancel_position(session: Session, position: DebtPosition, *, cause: str) -> None:
    """Cancel every draft or payable option. Raises PositionBusy (nothing changed) when an
    option is in progress or paid, Conflict when the position is already cancelled/expired."""
    for option in ensure_changeable(lock_options(session, position)):
        payments.apply_event(session, option, "cancel", cause=cause)
    position.status = derive_status(position.options)
    position.updated_at = utcnow()


def replace_position(session: Session, ente: Ente, position: DebtPosition, data: PositionIn,
                     *, cause: str, strict_identifiers: bool = True) -> DebtPosition:
    """Make ``position`` say what ``data`` says (see the module docstring). Raises
    InvalidPosition naming the field, PositionBusy / Conflict as ensure_changeable."""
    live = {o.notice_number: o for o in ensure_changeable(lock_options(session, position))}
    shares = validate(data, strict_identifiers=strict_identifiers)
    gone = {o.notice_number for o in position.options} - set(live)
    for i, option_in in enumerate(data.options):
        if option_in.notice_number in gone:
            raise InvalidPosition("this notice is cancelled or expired; leave the number out "
                                  "to issue a new one", field=f"options[{i}].notice_number")
    new = [o for o in data.options if o.notice_number not in live]
    missing = sum(1 for o in new if o.notice_number is None)
    generated = iter(allocate_notice_numbers(session, ente, missing) if missing else [])
    kept: set[str] = set()
    for option_in, cents in zip(data.options, shares, strict=True):
        option = live.get(option_in.notice_number or "")
        if option is None:
            notice = (parse_notice_number(option_in.notice_number, verify_check_digits=False)
                      if option_in.notice_number else next(generated))
            option = PaymentOption(ente_id=ente.id, notice_number=notice.value, iuv=notice.iuv,
                                   status="draft")
            _fill_option(option, option_in, cents, ente)
            position.options.append(option)
        else:
            # old transfers go first: (option_id, id_transfer) is unique, and the unit of
            # work would insert the new ones before deleting the old
            option.transfers.clear()
            session.flush()
            _fill_option(option, option_in, cents, ente)
        kept.add(option.notice_number)
    for number, option in live.items():
        if number not in kept:
            payments.apply_event(session, option, "cancel", cause=cause)
    _fill_position(position, data)
    session.flush()
    if position.published_at is not None:
        publish_position(session, position, cause=cause)
    position.status = derive_status(position.options)
    position.updated_at = utcnow()  # bumps the version even when only options changed
    return position


def _fill_position(position: DebtPosition, data: PositionIn) -> None:
    for name in ("debtor_type", "debtor_fiscal_code", "debtor_name", "debtor_email",
                 "debtor_street", "debtor_city", "debtor_postal_code", "debtor_province",
                 "debtor_nation", "description", "service_id"):
        setattr(position, name, getattr(data, name))
    position.due_date = min(o.due_date for o in data.options)


def _fill_option(option: PaymentOption, data: OptionIn, cents: list[int], ente: Ente) -> None:
    option.amount_cents = sum(cents)
    option.description = data.description
    option.due_date = data.due_date
    option.retention_date = data.retention_date
    option.instalment_number = data.instalment_number
    option.instalment_count = data.instalment_count
    option.transfers = [
        Transfer(id_transfer=idx, beneficiary_fiscal_code=t.beneficiary_fiscal_code
                 or ente.fiscal_code, iban=t.iban, postal_iban=t.postal_iban,
                 stamp_hash=t.stamp_hash, stamp_type=t.stamp_type,
                 stamp_province=t.stamp_province, amount_cents=amount,
                 remittance_information=t.remittance_information, category=t.category,
                 metadata_entries=t.metadata)
        for idx, (t, amount) in enumerate(zip(data.transfers, cents, strict=True), 1)
    ]
