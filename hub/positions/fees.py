"""SEND notification fees: the cost of notifying a notice through SEND (Piattaforma
Notifiche), in euro cents, paid by the debtor with the notice.

As pagoPA's GPD does it: the fee is added to the option's amount and to the Ente's own
transfer (the first transfer crediting the Ente itself), so that the Node, the receipt and
the notice all say the same total; setting another fee later replaces the earlier one (the
difference is applied). paGetPaymentV2 carries the fee as the ``NOTIFICATION_FEE`` metadata
(soap/responses.py). Only while the option can change (draft or payable): a fee cannot change
what is being paid or was paid.

A fee may also come from SEND's price service (``payhub.send_url``): an option whose fee's
source is ``send`` gets SEND's current price when the Node asks for it (paGetPayment), before
the amount is answered (``refresh_from_send``; SEND not answering in
``payhub.send_timeout_seconds`` leaves the stored fee).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import requests
import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from hub import http, payments
from hub.config import Config
from hub.db import utcnow
from hub.errors import Conflict
from hub.models import DebtPosition, Ente, NotificationFee, PaymentOption, Transfer
from hub.positions.inputs import DebtPositionInput, InvalidPosition, OptionInput
from hub.values.money import MAX_CENTS, format_cents, to_cents
from workflows.payment import CHANGEABLE_STATES

log = structlog.get_logger(__name__)


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
    own = _own_transfer(session, option)
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


def apply_given(session: Session, pairs: Iterable[tuple[PaymentOption, OptionInput]]) -> None:
    """Set the fees the inputs give (``notificationFee`` of /api/v1 and bulk loads) on the
    options just written from them, in the input's order; an input without one leaves the
    option's fee as it is. Raises as set_notification_fee, InvalidPosition naming
    ``options[k].notification_fee``."""
    for k, (option, given) in enumerate(pairs):
        if given.notification_fee is None:
            continue
        try:
            set_notification_fee(
                session, option.id, to_cents(given.notification_fee, allow_zero=True)
            )
        except InvalidPosition as exc:
            message = str(exc).split(": ", 1)[-1]
            raise InvalidPosition(message, field=f"options[{k}].notification_fee") from None


def _fee_cents(option: OptionInput) -> int:
    return to_cents(option.notification_fee or "0.00", allow_zero=True)


def _own_input_transfer(option: OptionInput, ente_code: str) -> int | None:
    """The index of the transfer that carries the fee: the first to the Ente, not a stamp."""
    return next(
        (
            i
            for i, t in enumerate(option.transfers)
            if (t.beneficiary_fiscal_code or ente_code) == ente_code and not t.stamp_hash
        ),
        None,
    )


def input_problems(data: DebtPositionInput, ente_code: str) -> list[tuple[str, str]]:
    """What set_notification_fee would refuse in the fees an input gives, (field, message)
    each: checked before a bulk load writes anything."""
    problems = []
    for k, option in enumerate(data.options):
        if option.notification_fee is None:
            continue
        where = f"options[{k}].notificationFee"
        if _own_input_transfer(option, ente_code) is None:
            problems.append((where, "the option has no transfer to the Ente itself to carry it"))
        elif to_cents(option.amount) + _fee_cents(option) > MAX_CENTS:
            problems.append((where, "the amount with the fee is too large"))
    return problems


def with_fees(data: DebtPositionInput, ente_code: str) -> DebtPositionInput:
    """The input as stored once its fees are applied (amounts and the Ente's own transfer
    with the fee): what a position loaded earlier from the same input looks like."""
    if all(o.notification_fee is None for o in data.options):
        return data
    options = []
    for option in data.options:
        own = _own_input_transfer(option, ente_code)
        if option.notification_fee is None or own is None:
            options.append(option)
            continue
        fee = to_cents(option.notification_fee, allow_zero=True)
        transfers = list(option.transfers)
        transfers[own] = transfers[own].model_copy(
            update={"amount": format_cents(to_cents(transfers[own].amount) + fee)}
        )
        options.append(
            option.model_copy(
                update={
                    "amount": format_cents(to_cents(option.amount) + fee),
                    "transfers": transfers,
                    "notification_fee": None,
                }
            )
        )
    return data.model_copy(update={"options": options})


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


def _own_transfer(session: Session, option: PaymentOption) -> Transfer | None:
    """The transfer that carries the option's notification fee: its first (by idTransfer) to
    the Ente itself that is not a stamp; None when there is none."""
    ente = session.get(Ente, option.ente_id)
    assert ente is not None
    return next(
        (
            t
            for t in sorted(option.transfers, key=lambda t: t.id_transfer)
            if t.beneficiary_fiscal_code == ente.fiscal_code and not t.stamp_hash
        ),
        None,
    )


def reapply(session: Session, options: Iterable[PaymentOption]) -> None:
    """After a replace rewrote these options' amounts and transfers: add each one's fee back
    (the fee stays until set again; a fee without a transfer to the Ente is refused)."""
    by_id = {o.id: o for o in options if o.id is not None}
    for option_id, fee in fees_of(session, by_id).items():
        option = by_id[option_id]
        own = _own_transfer(session, option)
        if own is None:
            raise InvalidPosition(
                "the option carries a notification fee: keep a transfer to the Ente itself",
                field="options",
            )
        option.amount_cents += fee
        own.amount_cents += fee


# --- SEND's price service ---------------------------------------------------------------------


class SendPriceError(Exception):
    """SEND's price service did not answer a price (the stored fee stands)."""


class SendPrices:
    """SEND's ``GET /delivery/v2.3/price/{paTaxId}/{noticeCode}``: the notification's
    ``totalPrice`` in euro cents. The key goes in ``x-api-key``."""

    def __init__(self, base_url: str, key: str | None, *, timeout: float = 3.0, verify: Any = True):
        self.base_url, self.key, self.timeout, self.verify = (
            base_url.rstrip("/"),
            key,
            timeout,
            verify,
        )

    def price(self, ec: str, notice_number: str) -> int:
        headers = {"Accept": "application/json", **({"x-api-key": self.key} if self.key else {})}
        try:
            with requests.Session() as s:
                s.trust_env = False
                response = s.get(
                    f"{self.base_url}/delivery/v2.3/price/{ec}/{notice_number}",
                    headers=headers,
                    timeout=self.timeout,
                    verify=self.verify,
                    allow_redirects=False,
                )
        except requests.RequestException as exc:
            raise SendPriceError(type(exc).__name__) from None
        if response.status_code != 200:
            raise SendPriceError(f"HTTP {response.status_code}")
        try:
            price = response.json()["totalPrice"]
        except (ValueError, KeyError, TypeError):
            raise SendPriceError("no totalPrice in the answer") from None
        if not isinstance(price, int) or isinstance(price, bool) or not 0 <= price <= MAX_CENTS:
            raise SendPriceError("totalPrice is not euro cents")
        return price


def send_prices(config: Config) -> SendPrices | None:
    """The price client if ``payhub.send_url`` is set."""
    if not config.send_url:
        return None
    return SendPrices(
        config.send_url,
        config.send_key,
        timeout=config.send_timeout_seconds,
        verify=http.verify_setting(config),
    )


def refresh_from_send(
    session: Session, prices: SendPrices | None, option: PaymentOption, ec: str
) -> int | None:
    """For an option whose fee comes from SEND (source ``send``), ask SEND's price now and
    make it the fee, if the option can still change; return the fee in force (None: none).
    SEND not answering leaves the stored fee: the payment goes on."""
    row = session.get(NotificationFee, option.id)
    if row is None or row.source != "send" or prices is None:
        return row.fee_cents if row else None
    if option.status not in CHANGEABLE_STATES:
        return row.fee_cents
    try:
        price = prices.price(ec, option.notice_number)
    except SendPriceError as exc:
        log.warning("send.price_unavailable", notice_number=option.notice_number, problem=str(exc))
        return row.fee_cents
    if price != row.fee_cents:
        set_notification_fee(session, option.id, price, source="send")
    return price
