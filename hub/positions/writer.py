"""The one writer of debt positions: validated input in, rows (and notice numbers) out.

Creating: nothing is written unless everything is valid; all checks run before the first
``add``. Changing and cancelling, only while nothing is being paid: a position can be changed
while each of its options is draft or payable. Options are matched by notice number: a matched
option is updated in place (its transfers replaced), an option the new data leaves out is
cancelled through the state machine (its history stays), an option without a notice number is
new. Cancelling cancels every option, through the state machine.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from hub import payments
from hub.db import utcnow
from hub.errors import Conflict, DomainError
from hub.models import DebtPosition, Ente, PaymentOption, Transfer
from hub.positions import fees
from hub.positions.inputs import (
    DebtPositionInput,
    InvalidPosition,
    OptionInput,
    PositionData,
    TransferInput,
)
from hub.positions.iuv import allocate_notice_numbers
from hub.positions.status import derive_status
from hub.values import identifiers
from hub.values.money import to_cents
from hub.values.notice_numbers import parse_notice_number
from workflows.payment import (
    CHANGEABLE_STATES,
    CLOSED_STATES,
    INITIAL_STATE,
    PositionStatus,
    sources,
)


def validate(
    data: PositionData, *, verify_check_digits: bool = True, strict_identifiers: bool = False
) -> list[list[int]]:
    """The rules across fields of a position the input model (hub.positions.inputs) has
    already shaped: return each option's transfer amounts in cents. Raises InvalidPosition
    naming the first failing field. ``strict_identifiers`` also checks IBANs (mod 97), postal
    IBANs and the debtor's fiscal code or VAT number (see hub.values.identifiers)."""
    where_nul = _nul_field(data) if _may_hold_nul(data) else None
    if where_nul:  # PostgreSQL cannot store one; no text of a notice needs one
        raise InvalidPosition("NUL characters are not accepted", field=where_nul)
    if strict_identifiers:
        problem = identifiers.debtor_code_problem(data.debtor_type, data.debtor_fiscal_code)
        if problem:
            raise InvalidPosition(problem, field="debtor_fiscal_code")
    _check_plan(data.options)
    cents: list[list[int]] = []
    for i, option in enumerate(data.options):
        where = f"options[{i}]"
        amount = _cents(option.amount, f"{where}.amount")
        shares = [
            _cents(t.amount, f"{where}.transfers[{j}].amount")
            for j, t in enumerate(option.transfers)
        ]
        if sum(shares) != amount:
            raise InvalidPosition(
                f"transfers add up to {sum(shares)} cents, not {amount}", field=f"{where}.transfers"
            )
        for j, t in enumerate(option.transfers):
            if not (t.iban or t.postal_iban or t.stamp_hash):
                raise InvalidPosition(
                    "an IBAN, a postal IBAN or a revenue stamp is required",
                    field=f"{where}.transfers[{j}]",
                )
            if strict_identifiers:
                _check_accounts(t, f"{where}.transfers[{j}]")
        if option.notice_number is not None:
            try:
                parse_notice_number(option.notice_number, verify_check_digits=verify_check_digits)
            except DomainError as exc:
                raise InvalidPosition(str(exc), field=f"{where}.notice_number") from None
        cents.append(shares)
    return cents


def _may_hold_nul(data: BaseModel) -> bool:
    """False when no text of ``data`` holds a NUL: its JSON (made by pydantic-core, in Rust,
    a tenth of the time of walking the model in Python) writes one as ``\\u0000``. True also
    for a text holding a backslash followed by ``u0000``, or a model that does not serialize:
    ``_nul_field`` then decides."""
    try:
        return b"\\u0000" in data.__pydantic_serializer__.to_json(data, warnings=False)
    except Exception:  # any failure: take the slow, exact walk
        return True


def _nul_field(value: Any, where: str = "") -> str | None:
    """The first field of ``value`` (an input model of text, lists and dicts) holding a NUL."""
    if isinstance(value, str):
        return where if "\x00" in value else None
    if isinstance(value, BaseModel):
        children = [(name, getattr(value, name)) for name in type(value).model_fields]
    elif isinstance(value, dict):
        children = [(str(k), v) for k, v in value.items()]
        if any("\x00" in k for k, _ in children):
            return where or "."
    elif isinstance(value, list):
        return next(
            (w for i, item in enumerate(value) if (w := _nul_field(item, f"{where}[{i}]"))), None
        )
    else:
        return None
    return next(
        (
            w
            for name, item in children
            if (w := _nul_field(item, f"{where}.{name}" if where else name))
        ),
        None,
    )


def _check_plan(options: list[OptionInput]) -> None:
    """An instalment plan is numbered 1..m with the same m on each; besides it, at most one
    option pays the whole debt at once."""
    plan = [
        (i, o)
        for i, o in enumerate(options)
        if o.instalment_count is not None or o.instalment_number is not None
    ]
    singles = len(options) - len(plan)
    if singles > 1:
        raise InvalidPosition(
            "at most one option without instalments (pay in full)", field="options"
        )
    if not plan:
        return
    for i, option in plan:
        if option.instalment_count != len(plan):
            raise InvalidPosition(
                f"the plan has {len(plan)} instalments", field=f"options[{i}].instalment_count"
            )
    if sorted(o.instalment_number or 0 for _, o in plan) != list(range(1, len(plan) + 1)):
        raise InvalidPosition(
            f"instalments must be numbered 1 to {len(plan)}, once each",
            field=f"options[{plan[0][0]}].instalment_number",
        )


def _check_accounts(t: TransferInput, where: str) -> None:
    if t.iban and (problem := identifiers.iban_problem(t.iban)):
        raise InvalidPosition(problem, field=f"{where}.iban")
    if t.postal_iban and (problem := identifiers.postal_iban_problem(t.postal_iban)):
        raise InvalidPosition(problem, field=f"{where}.postal_iban")


def _cents(value: str | Decimal, field_name: str) -> int:
    try:
        return to_cents(value)
    except DomainError as exc:
        raise InvalidPosition(str(exc), field=field_name) from None


def create_position(
    session: Session,
    ente: Ente,
    data: DebtPositionInput,
    *,
    service_id: int | None = None,
    publish: bool = False,
    cause: str = "api",
    verify_check_digits: bool = True,
    strict_identifiers: bool = False,
) -> DebtPosition:
    """Validate and add a debt position with its options (notice numbers generated where not
    supplied), of the Ente's service ``service_id`` if given; publish it if asked. Raises
    InvalidPosition before writing anything.
    ``verify_check_digits=False`` accepts supplied numbers with wrong check digits (pagoPA's
    own test notices have them)."""
    shares = validate(
        data, verify_check_digits=verify_check_digits, strict_identifiers=strict_identifiers
    )
    missing = sum(1 for o in data.options if o.notice_number is None)
    generated = iter(allocate_notice_numbers(session, ente, missing) if missing else [])
    numbers = [
        parse_notice_number(o.notice_number, verify_check_digits=False)
        if o.notice_number
        else next(generated)
        for o in data.options
    ]
    position = build_position(ente, data, service_id, [(n.value, n.iuv) for n in numbers], shares)
    session.add(position)
    session.flush()
    fees.apply_given(session, zip(position.options, data.options, strict=True))
    if publish:
        publish_position(session, position, cause=cause)
    return position


def build_position(
    ente: Ente,
    data: DebtPositionInput,
    service_id: int | None,
    notices: list[tuple[str, str]],
    shares: list[list[int]],
) -> DebtPosition:
    """The rows of a checked position, unsaved: ``notices`` are each option's (notice number,
    IUV), ``shares`` each option's transfer amounts in cents (``validate``'s answer)."""
    position = DebtPosition(ente_id=ente.id, iupd=data.iupd, status=PositionStatus.DRAFT)
    _fill_position(position, data, service_id)
    for option_in, (number, iuv), cents in zip(data.options, notices, shares, strict=True):
        option = PaymentOption(ente_id=ente.id, notice_number=number, iuv=iuv, status=INITIAL_STATE)
        _fill_option(option, option_in, cents, ente)
        position.options.append(option)
    return position


def publish_position(session: Session, position: DebtPosition, *, cause: str) -> None:
    """Make every draft option of the position payable."""
    for option in position.options:
        locked = payments.lock_option_by_id(session, option.id)
        if locked.status in sources("publish"):
            payments.apply_event(session, locked, "publish", cause=cause)
    position.published_at = position.published_at or utcnow()
    position.status = derive_status(position.options)


# --- changing and cancelling positions ---

# read off the machine: changeable while it may be cancelled; final once cancelled or expired
CHANGEABLE = CHANGEABLE_STATES
FINAL = CLOSED_STATES


class PositionBusy(Conflict):
    """An option of the position is in progress or paid: it can no longer be changed."""

    code = "position_busy"


def lock_options(session: Session, position: DebtPosition) -> list[PaymentOption]:
    """Lock every option of ``position`` (in id order, so concurrent lockers cannot deadlock)."""
    return [
        payments.lock_option_by_id(session, o.id)
        for o in sorted(position.options, key=lambda o: o.id)
    ]


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


def replace_position(
    session: Session,
    ente: Ente,
    position: DebtPosition,
    data: PositionData,
    *,
    service_id: int | None = None,
    cause: str,
    strict_identifiers: bool = True,
    verify_check_digits: bool = True,
) -> DebtPosition:
    """Make ``position`` say what ``data`` says (see the module docstring). Raises
    InvalidPosition naming the field, PositionBusy / Conflict as ensure_changeable.
    ``verify_check_digits`` as for create_position."""
    live = {o.notice_number: o for o in ensure_changeable(lock_options(session, position))}
    shares = validate(
        data, strict_identifiers=strict_identifiers, verify_check_digits=verify_check_digits
    )
    gone = {o.notice_number for o in position.options} - set(live)
    for i, option_in in enumerate(data.options):
        if option_in.notice_number in gone:
            raise InvalidPosition(
                "this notice is cancelled or expired; leave the number out to issue a new one",
                field=f"options[{i}].notice_number",
            )
    new = [o for o in data.options if o.notice_number not in live]
    missing = sum(1 for o in new if o.notice_number is None)
    generated = iter(allocate_notice_numbers(session, ente, missing) if missing else [])
    kept: set[str] = set()
    given: list[tuple[PaymentOption, OptionInput]] = []
    for option_in, cents in zip(data.options, shares, strict=True):
        option = live.get(option_in.notice_number or "")
        if option is None:
            notice = (
                parse_notice_number(option_in.notice_number, verify_check_digits=False)
                if option_in.notice_number
                else next(generated)
            )
            option = PaymentOption(
                ente_id=ente.id, notice_number=notice.value, iuv=notice.iuv, status=INITIAL_STATE
            )
            _fill_option(option, option_in, cents, ente)
            position.options.append(option)
        else:
            # old transfers go first: (option_id, id_transfer) is unique, and the unit of
            # work would insert the new ones before deleting the old
            option.transfers.clear()
            session.flush()
            _fill_option(option, option_in, cents, ente)
        kept.add(option.notice_number)
        given.append((option, option_in))
    # SEND notification fees (issue 20) stay in the amounts of the options kept, unless given
    fees.reapply(session, [o for o in live.values() if o.notice_number in kept])
    session.flush()
    fees.apply_given(session, given)
    for number, option in live.items():
        if number not in kept:
            payments.apply_event(session, option, "cancel", cause=cause)
    _fill_position(position, data, service_id)
    session.flush()
    if position.published_at is not None:
        publish_position(session, position, cause=cause)
    position.status = derive_status(position.options)
    position.updated_at = utcnow()  # bumps the version even when only options changed
    return position


def _fill_position(position: DebtPosition, data: PositionData, service_id: int | None) -> None:
    for name in (
        "debtor_type",
        "debtor_fiscal_code",
        "debtor_name",
        "debtor_email",
        "debtor_street",
        "debtor_city",
        "debtor_postal_code",
        "debtor_province",
        "debtor_nation",
        "description",
    ):
        setattr(position, name, getattr(data, name))
    position.service_id = service_id
    position.due_date = min(o.due_date for o in data.options)


def _fill_option(option: PaymentOption, data: OptionInput, cents: list[int], ente: Ente) -> None:
    option.amount_cents = sum(cents)
    option.description = data.description
    option.due_date = data.due_date
    option.retention_date = data.retention_date
    option.instalment_number = data.instalment_number
    option.instalment_count = data.instalment_count
    option.transfers = [
        Transfer(
            id_transfer=idx,
            beneficiary_fiscal_code=t.beneficiary_fiscal_code or ente.fiscal_code,
            iban=t.iban,
            postal_iban=t.postal_iban,
            stamp_hash=t.stamp_hash,
            stamp_type=t.stamp_type,
            stamp_province=t.stamp_province,
            amount_cents=amount,
            remittance_information=t.remittance_information,
            category=t.category,
            metadata_entries=t.metadata_entries(),
        )
        for idx, (t, amount) in enumerate(zip(data.transfers, cents, strict=True), 1)
    ]
