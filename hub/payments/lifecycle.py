"""Payment services: every change of a payment option's state goes through here.

Each change locks the option row (SELECT ... FOR UPDATE), fires the PaymentFlow event, writes
the StateTransition and the follow-up outbox message, all in the caller's transaction: either
everything is committed or nothing is.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import psycopg
import sqlalchemy as sa
import structlog
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError, MultipleResultsFound
from sqlalchemy.orm import Session, make_transient_to_detached, object_session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from hub import actor_names, clock, driver, outbox, refunds
from hub.db import utcnow
from hub.errors import (
    DuplicateReceipt,
    OtherPlanInProgress,
    OtherPlanPaid,
    PaymentAlreadyPaid,
    PaymentCancelled,
    PaymentExpired,
    PaymentUnknown,
)
from hub.models import (
    Anomaly,
    DebtPosition,
    Ente,
    Intermediary,
    PaymentAttempt,
    PaymentOption,
    Receipt,
    StateTransition,
    Station,
    Transfer,
    station_ente,
)
from hub.onboarding import environments  # issue 15: test payments
from hub.payments import plans, receipt_sql
from hub.values import anomaly_details as details
from workflows.payment import (
    CANCELLED_STATES,
    EVENTS,
    EXPIRABLE_STATES,
    EXPIRED_STATES,
    GUARDED_EVENTS,
    INITIAL_STATE,
    PAID_STATES,
    PAYABLE_STATES,
    OptionStatus,
    PaymentFlow,
    anomaly_for_receipt,
    next_state,
)

log = structlog.get_logger(__name__)

STATUS_CHANGED_ACTOR = actor_names.PAYMENT_STATUS_CHANGED
EXPIRABLE = EXPIRABLE_STATES  # the states from which the machine allows "expire"
# The events whose change is followed up (STATUS_CHANGED_ACTOR: the position's status, the
# Ente's webhooks, level-1 portals). Not "publish": its writer sets the position's status in
# the same transaction, no webhook event is "payable" and no cart holds a draft option, so the
# message changed nothing (a bulk publish of 100,000 notices wrote 100,000 of them).
FOLLOWED_UP_EVENTS = frozenset(EVENTS) - {"publish"}


def lock_option(session: Session, ente_id: int, notice_number: str) -> PaymentOption | None:
    """Load and lock the option with this notice number, or None if there is none."""
    return session.scalars(
        sa.select(PaymentOption)
        .where(PaymentOption.ente_id == ente_id, PaymentOption.notice_number == notice_number)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()


def lock_option_by_id(session: Session, option_id: int) -> PaymentOption:
    option = session.scalars(
        sa.select(PaymentOption)
        .where(PaymentOption.id == option_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if option is None:
        raise PaymentUnknown(f"payment option {option_id} does not exist")
    return option


def apply_event(
    session: Session,
    option: PaymentOption,
    event: str,
    *,
    cause: str,
    now: dt.datetime | None = None,
    **kwargs: Any,
) -> None:
    """Fire ``event`` on a locked option and record it. Raises IllegalTransition (nothing
    written) when the event is not allowed in the option's state or its guard fails."""
    now = now or utcnow()
    before = option.status
    if event in GUARDED_EVENTS or kwargs:
        PaymentFlow(model=option, state_field="status").fire(
            event, now=now, today=clock.business_date(now), **kwargs
        )
    else:  # where it leads depends on the state alone: the machine's answer, asked once
        option.status = _target(before, event)
    record_transitions(session, [(option.id, before, option.status)], event, cause=cause, now=now)
    log.info(
        "payment.transition",
        option_id=option.id,
        payment_event=event,
        from_state=before,
        to_state=option.status,
    )


@functools.lru_cache(maxsize=256)
def _target(from_state: str, event: str) -> str:
    """Where the machine takes ``from_state`` on the unguarded ``event`` (building a machine
    costs more than the rest of a transition); IllegalTransition is raised, never cached."""
    moment = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)  # an unguarded event reads no time
    return str(next_state(from_state, event, now=moment, today=moment.date()))


def next_states(event: str, from_states: Iterable[str], now: dt.datetime) -> dict[str, str]:
    """Where ``event`` takes options in each of ``from_states``, asked of the machine once per
    state. Only for options this transaction has just built (no one else can see them, so no
    lock) and an event without guard, as a bulk load publishes thousands: set each option's
    status from the answer, then ``record_transitions``. Raises IllegalTransition."""
    today = clock.business_date(now)
    return {state: next_state(state, event, now=now, today=today) for state in set(from_states)}


Change = tuple[int, str, str]  # (option id, from state, to state)


def record_transitions(
    session: Session,
    changes: Sequence[Change],
    event: str,
    *,
    cause: str | Sequence[str],
    now: dt.datetime,
    relay: bool = True,
) -> None:
    """The one recorder of status changes: for each option the machine moved by ``event``,
    its history row (``state_transition``) and the follow-up message, in the caller's
    transaction. Many rows on PostgreSQL go in one COPY (a bulk load publishes thousands).
    Many changes are followed up by one message per chunk of options (``outbox.CHUNK``
    ids, per pair of states: the consumer takes a chunk, ``followed_up`` reads one); one
    change by one message per option. ``relay=False`` (a large reporting flow) leaves the
    messages to the outbox sweeper instead of the relay after the commit. ``cause`` is
    the history's cause, one for all or one per change (a statement reconciles many flows,
    each credit its own)."""
    whys = [cause[:200]] * len(changes) if isinstance(cause, str) else [c[:200] for c in cause]
    bulk = len(changes) > 1 and session.get_bind().dialect.name == "postgresql"
    if bulk:
        session.flush()  # the options the history rows point at
        stamp = now.astimezone(dt.UTC).replace(tzinfo=None)  # as UTCDateTime stores it
        driver = cast(psycopg.Connection[Any], session.connection().connection.driver_connection)
        with driver.cursor() as cursor, cursor.copy(_HISTORY_COPY) as copy:
            for (option_id, before, after), why in zip(changes, whys, strict=True):
                copy.write_row((option_id, event, before, after, why, stamp))
    else:
        session.add_all(
            StateTransition(
                option_id=option_id,
                event=event,
                from_state=before,
                to_state=after,
                cause=why,
                created_at=now,
            )
            for (option_id, before, after), why in zip(changes, whys, strict=True)
        )
    if event not in FOLLOWED_UP_EVENTS:
        return
    if len(changes) > 1:  # one message per chunk of options (the consumer takes a chunk)
        groups: dict[tuple[str, str], list[int]] = {}
        for option_id, before, after in changes:
            groups.setdefault((before, after), []).append(option_id)
        for (before, after), ids in groups.items():
            outbox.enqueue_chunks(
                session,
                STATUS_CHANGED_ACTOR,
                "option_ids",
                ids,
                relay=relay,
                event=event,
                from_state=before,
                to_state=after,
            )
        return
    for option_id, before, after in changes:
        outbox.enqueue(
            session,
            STATUS_CHANGED_ACTOR,
            option_id=option_id,
            event=event,
            from_state=before,
            to_state=after,
        )


def followed_up(args: dict[str, Any]) -> list[Change]:
    """The (option id, from state, to state) changes a ``STATUS_CHANGED_ACTOR`` message
    follows up: one option's, or a chunk's (``option_ids``)."""
    ids = args["option_ids"] if args.get("option_ids") is not None else [args["option_id"]]
    return [(int(i), args["from_state"], args["to_state"]) for i in ids]


_HISTORY_COPY = (
    "COPY state_transition (option_id, event, from_state, to_state, cause, created_at) FROM STDIN"
)


@dataclass(frozen=True)
class NoticeSummary:
    """What paVerifyPaymentNotice answers, read in one query (the hot path of the station)."""

    id: int
    notice_number: str
    status: str
    amount_cents: int
    due_date: dt.date
    retention_date: dt.date | None
    description: str
    all_postal: bool
    # the state of another plan of the debt that makes this one unpayable (hub.payments.plans)
    other_plan: str | None = None

    @property
    def expires_on(self) -> dt.date | None:
        return self.retention_date


def _notice_summary_query() -> sa.Select[Any]:
    def count(column: Any) -> Any:
        return (
            sa.select(sa.func.count(column))
            .where(Transfer.option_id == PaymentOption.id)
            .correlate(PaymentOption)
            .scalar_subquery()
        )

    return (
        sa.select(
            PaymentOption.id,
            PaymentOption.notice_number,
            PaymentOption.status,
            PaymentOption.amount_cents,
            PaymentOption.due_date,
            PaymentOption.retention_date,
            sa.func.coalesce(PaymentOption.description, DebtPosition.description),
            count(Transfer.id),
            count(Transfer.postal_iban),
            # a plain DateTime bind (naive UTC, as UTCDateTime stores it): no type processing,
            # so this hot query still runs on the driver (soap.fastpath)
            plans.blocking_rank_query(sa.bindparam("now", type_=sa.DateTime())),
        )
        .join(DebtPosition, DebtPosition.id == PaymentOption.position_id)
        .where(
            PaymentOption.ente_id == sa.bindparam("ente_id"),
            PaymentOption.notice_number == sa.bindparam("notice_number"),
        )
    )


# built once: this is the station's hottest query (every paVerifyPaymentNotice)
_NOTICE_SUMMARY = _notice_summary_query()


def notice_summary(session: Session, ente_id: int, notice_number: str) -> NoticeSummary | None:
    """The option with this notice number, its description and whether every transfer goes to
    a postal account, in one round trip; None if there is no such notice."""
    if session.new or session.dirty:  # Core below does not autoflush
        session.flush()
    row = (
        session.connection()
        .execute(
            _NOTICE_SUMMARY,
            {
                "ente_id": ente_id,
                "notice_number": notice_number,
                "now": clock.now().astimezone(dt.UTC).replace(tzinfo=None),
            },
        )
        .one_or_none()
    )
    if row is None:
        return None
    (
        option_id,
        number,
        status,
        amount_cents,
        due_date,
        retention_date,
        description,
        n_transfers,
        n_postal,
        other_rank,
    ) = row
    return NoticeSummary(
        option_id,
        number,
        status,
        amount_cents,
        due_date,
        retention_date,
        description=(description or "-")[:140],
        all_postal=n_transfers > 0 and n_postal == n_transfers,
        other_plan=plans.state_of_rank(other_rank),
    )


_Payable = TypeVar("_Payable", PaymentOption, NoticeSummary)


def check_payable(option: _Payable | None, today: dt.date) -> _Payable:
    """Raise the domain error that says why ``option`` cannot be paid now, if it cannot:
    PaymentUnknown, PaymentAlreadyPaid, PaymentCancelled, PaymentExpired, or, when another
    plan of the same debt is paid or being paid (plans are exclusive), OtherPlanPaid or
    OtherPlanInProgress. A PaymentOption is asked of its session; a NoticeSummary carries it."""
    if option is None or option.status == INITIAL_STATE:
        raise PaymentUnknown("no payable notice with this number")
    if option.status in PAID_STATES:
        raise PaymentAlreadyPaid(f"notice {option.notice_number} is already paid")
    if option.status in CANCELLED_STATES:
        raise PaymentCancelled(f"notice {option.notice_number} was cancelled")
    past_due = option.expires_on is not None and option.expires_on < today
    if option.status in EXPIRED_STATES or past_due:
        raise PaymentExpired(f"notice {option.notice_number} expired")
    if option.status not in PAYABLE_STATES:  # a state the machine may add one day
        raise PaymentUnknown("no payable notice with this number")
    _check_other_plans(option)
    return option


def _check_other_plans(option: PaymentOption | NoticeSummary) -> None:
    if isinstance(option, NoticeSummary):
        other = option.other_plan
    else:
        session = object_session(option)
        other = plans.blocking_state(session, option, clock.now()) if session else None
    if other == OptionStatus.PAID:
        raise OtherPlanPaid(
            f"notice {option.notice_number}: another payment plan of this debt is already paid"
        )
    if other == OptionStatus.IN_PROGRESS:
        raise OtherPlanInProgress(
            f"notice {option.notice_number}: another payment plan of this debt is being paid"
        )


def activate(
    session: Session,
    ente: Ente,
    notice_number: str,
    *,
    requested_cents: int,
    primitive: str,
    ttl: dt.timedelta = dt.timedelta(minutes=30),
    transfer_type: str | None = None,
    now: dt.datetime | None = None,
    cause: str = "",
) -> PaymentOption:
    """paGetPayment: the Node activates a notice. Moves it to in_progress (again, if a previous
    activation is still open or has lapsed) and records the attempt; raises the domain error
    for a notice that cannot be paid."""
    now = now or utcnow()
    option = check_payable(lock_option(session, ente.id, notice_number), clock.business_date(now))
    apply_event(session, option, "activate", cause=cause or f"soap:{primitive}", now=now)
    option.activation_expires_at = now + ttl
    session.add(
        PaymentAttempt(
            option_id=option.id,
            primitive=primitive,
            requested_cents=requested_cents,
            answered_cents=option.amount_cents,
            transfer_type=transfer_type,
            attempted_at=now,
            expires_at=now + ttl,
        )
    )
    return option


class ReceiptOutcome:
    """What ``store_receipt`` did: the receipt stored, the option it paid (None: no option of
    ours; an ordinary receipt's is loaded only when asked for) and the anomalies opened."""

    def __init__(
        self,
        receipt: Receipt,
        option: PaymentOption | None,
        anomalies: list[str] | None = None,
        *,
        session: Session | None = None,
        option_id: int | None = None,
    ) -> None:
        self.receipt = receipt
        self._option = option
        self.anomalies = anomalies if anomalies is not None else []
        self._session, self._option_id = session, option_id

    @property
    def option(self) -> PaymentOption | None:
        if self._option is None and self._option_id is not None and self._session is not None:
            self._option = self._session.get(PaymentOption, self._option_id)
        return self._option


def store_receipt(
    session: Session,
    receipt: Receipt,
    *,
    now: dt.datetime | None = None,
    served_ente_ids: set[int] | None = None,
    broker_code: str | None = None,
    cause: str | None = None,
) -> ReceiptOutcome:
    """paSendRT: store ``receipt`` and move its option to paid, in the caller's transaction.

    A receipt is never refused for business reasons: for an unknown, cancelled or expired
    notice, a Stand-In receipt without activation or a second payment of a paid notice, it is
    stored and an Anomaly is opened for support. A receipt whose outcome is not OK is stored
    and flagged and settles nothing. Raises DuplicateReceipt (nothing written) if this
    (EC fiscal code, receiptId) is already stored. With ``served_ente_ids`` (the Enti the
    delivering station serves) and ``broker_code`` (its intermediary), a receipt for an Ente
    that another station of the same intermediary serves (an Ente moved between stations:
    pagoPA delivers with the old one for a while) is stored and settled, and the mismatch
    flagged; a receipt naming an Ente of another intermediary touches nothing of that Ente:
    it is kept as a receipt for a notice unknown here, and flagged. ``cause`` is the history's
    cause (default ``receipt:<receiptId>``; a recovered receipt says ``recovered:<source>``).
    """
    now = now or utcnow()
    if sa.inspect(receipt).transient:
        _fill_defaults(receipt)
        if served_ente_ids:
            done = _store_in_one_statement(session, receipt, served_ente_ids, cause, now)
            if done is not None:
                return done
    locked = _lock_for_receipt(session, receipt.ec_fiscal_code, receipt.notice_number, now)
    ente: _EnteRef | None
    if locked is not None:
        ente = locked.ente
    else:  # no such notice (or no such Ente): the Ente alone
        row = session.execute(
            receipt_sql.ENTE_REF, {"fiscal_code": receipt.ec_fiscal_code}
        ).one_or_none()
        ente = _EnteRef(row.id, row.production) if row is not None else None
    moved = unserved = False
    if ente is not None and served_ente_ids is not None and ente.id not in served_ente_ids:
        moved = broker_code is not None and _served_by_broker(session, ente.id, broker_code)
        unserved = not moved
    if unserved:  # the option (locked with its Ente's row read) is left untouched
        ente, locked = None, None
    receipt.ente_id = ente.id if ente else None
    receipt.option_id = locked.row.id if locked else None
    # issue 15: through a test station (set by the caller), or for an Ente/service in test only
    receipt.test = bool(receipt.test) or environments.is_test_payment(
        session,
        ente.production if ente else None,
        receipt.option_id,
        service_production=locked.service_production if locked else None,
    )
    receipt.received_at = now
    if locked is not None and not moved and _ordinary(session, receipt, locked):
        return _store_paid_at_once(session, receipt, locked.row, cause=cause, now=now)
    # the general path works on the ORM object of the option locked above
    option = session.get(PaymentOption, locked.row.id, populate_existing=True) if locked else None
    # after the lock: a concurrent twin has committed by the time we hold the row (and the
    # database waits for one in flight on a notice unknown here)
    if not _insert_receipt(session, receipt):
        raise DuplicateReceipt(f"receipt {receipt.receipt_id} already stored")

    outcome = ReceiptOutcome(receipt=receipt, option=option)
    if unserved:
        _flag(
            session,
            outcome,
            "unserved_ec",
            details.detail(
                "receipt_unserved_ec", receipt=receipt.receipt_id, ec=receipt.ec_fiscal_code
            ),
        )
    elif moved:
        _flag(
            session,
            outcome,
            "station_mismatch",
            details.detail(
                "receipt_station_mismatch", receipt=receipt.receipt_id, ec=receipt.ec_fiscal_code
            ),
        )
    if receipt.outcome != "OK":
        _flag(
            session,
            outcome,
            "receipt_ko",
            details.detail("receipt_ko", receipt=receipt.receipt_id, outcome=receipt.outcome),
        )
    elif option is None and not unserved:
        _flag(
            session,
            outcome,
            "unknown_notice",
            details.detail(
                "receipt_unknown_notice", receipt=receipt.receipt_id, notice=receipt.notice_number
            ),
        )
    elif locked is not None:
        _settle(session, outcome, now, cause, other_plan_paid=locked.other_plan_paid)
    return outcome


@dataclass(frozen=True)
class _EnteRef:
    """What a receipt reads of its Ente."""

    id: int
    production: bool


@dataclass(frozen=True)
class _Locked:
    row: Any  # the option's columns as locked (receipt_sql.LOCKED_COLUMNS)
    ente: _EnteRef
    other_plan_paid: bool  # another plan of the option's debt is paid already
    service_production: bool | None  # issue 15: the option's service (None: no service)


def _lock_for_receipt(
    session: Session, fiscal_code: str, notice_number: str, now: dt.datetime
) -> _Locked | None:
    """``lock_option`` by the Ente's fiscal code, with the Ente and what every receipt asks
    about the option besides (another plan paid; its service in production), in the same
    round trip; None if there is no such option. The option comes as columns (a Core row),
    read on the session's connection (no ORM result to build): the session is flushed first,
    as the ORM's query would have done."""
    session.flush()
    found = driver.rows(
        session,
        receipt_sql.LOCK_WITH_ENTE,
        {
            "fiscal_code": fiscal_code,
            "notice_number": notice_number,
            "now": now.astimezone(dt.UTC).replace(tzinfo=None),  # as UTCDateTime stores it
        },
    )
    if not found:
        return None
    if len(found) > 1:  # (Ente fiscal code, notice number) is unique
        raise MultipleResultsFound("more than one option for a notice")
    row = found[0]
    return _Locked(
        row,
        _EnteRef(row.ente_id, row.ente_production),
        plans.state_of_rank(row.plan_rank) == OptionStatus.PAID,
        row.service_production,
    )


def _served_by_broker(session: Session, ente_id: int, broker_code: str) -> bool:
    linked = (
        session.execute(
            sa.select(sa.func.count())
            .select_from(station_ente)
            .join(Station, Station.id == station_ente.c.station_id)
            .join(Intermediary, Intermediary.id == Station.intermediary_id)
            .where(station_ente.c.ente_id == ente_id, Intermediary.broker_code == broker_code)
        ).scalar_one()
        > 0
    )
    # issue 15: an Ente deactivated from a station of the broker is still its to settle
    return linked or (
        environments.deactivated_from_broker(session, broker_code, ente_id=ente_id) is not None
    )


def _settle(
    session: Session,
    outcome: ReceiptOutcome,
    now: dt.datetime,
    cause: str | None = None,
    *,
    other_plan_paid: bool = True,
) -> None:
    option, receipt = outcome.option, outcome.receipt
    assert option is not None
    if receipt.standin and not _seen_activation(session, option.id):
        _flag(
            session,
            outcome,
            "standin_receipt",
            details.detail("receipt_standin", receipt=receipt.receipt_id),
        )
    kind = anomaly_for_receipt(option.status)
    other_paid = plans.paid_by_other_plan(session, option) if other_plan_paid and not kind else []
    paid = receipt.payment_amount_cents
    # the money to give back opens a refund case with its anomaly (hub.refunds)
    if other_paid:
        _flag(
            session,
            outcome,
            "double_payment",
            details.detail(
                "receipt_other_plan_paid",
                receipt=receipt.receipt_id,
                notice=option.notice_number,
                others=", ".join(other_paid)[:200],
            ),
            refund_cents=paid,
        )
    if kind:
        _flag(
            session,
            outcome,
            kind,
            details.detail(
                "receipt_while_status", receipt=receipt.receipt_id, status=str(option.status)
            ),
            refund_cents=paid,
        )
    if paid != option.amount_cents:
        excess = paid - option.amount_cents
        _flag(
            session,
            outcome,
            "amount_mismatch",
            details.detail(
                "receipt_amount_mismatch", paid_cents=paid, expected_cents=option.amount_cents
            ),
            refund_cents=excess if excess > refunds.AMOUNT_TOLERANCE_CENTS else 0,
        )
    cause = cause or f"receipt:{receipt.receipt_id}"
    if _can_write_at_once(session, option):
        _receive_at_once(session, option, receipt.payment_amount_cents, cause=cause, now=now)
        return
    apply_event(session, option, "receive_receipt", cause=cause, now=now)
    option.paid_cents += receipt.payment_amount_cents
    option.paid_at = option.paid_at or now
    option.activation_expires_at = None


def _ordinary(session: Session, receipt: Receipt, locked: _Locked) -> bool:
    """Whether ``receipt`` is an ordinary one, written whole by one statement
    (``_store_paid_at_once``): OK, not Stand-In, for a payable option (no anomaly for its
    state, no other plan paid, the amount expected) whose move the unit of work need not
    make; the receipt not yet in the session. Anything else takes the general path."""
    option = locked.row
    return (
        receipt.outcome == "OK"
        and not receipt.standin
        and not locked.other_plan_paid
        and anomaly_for_receipt(option.status) is None
        and receipt.payment_amount_cents == option.amount_cents
        and sa.inspect(receipt).transient
        and _receipt_statements_apply(session)
    )


def _store_paid_at_once(
    session: Session,
    receipt: Receipt,
    option: Any,
    *,
    cause: str | None,
    now: dt.datetime,
) -> ReceiptOutcome:
    """An ordinary receipt (``_ordinary``) stored and settled by one statement
    (``receipt_sql.PAID_AT_ONCE``): the same rows as ``_insert_receipt`` then
    ``_receive_at_once`` write, in one round trip. Raises DuplicateReceipt (nothing written)
    for a receipt already stored, IllegalTransition (nothing written) where the machine says
    no. ``option`` is the locked row (``_Locked.row``); the ORM object of the option, if the
    session holds one, is given the row's values and the move's."""
    before, after, paid = _paid(option, receipt.payment_amount_cents, now)
    message = outbox.written_values(
        session, STATUS_CHANGED_ACTOR, now=now, **_change(option, before, after)
    )
    state = receipt.__dict__  # as _receipt_row reads it
    params: dict[str, Any] = {bind: state.get(key) for key, bind in receipt_sql.RECEIPT_BINDS}
    # the receipt's option and moment are the move's own (one parameter each)
    assert (params["o_id"], params["now"]) == (option.id, now)
    for key, value in receipt_sql.MESSAGE_LITERALS.items():  # written into the statement
        assert message[key] == value, key
    params.update(
        {
            f"m_{key}": message[key]
            for key in ("message_id", "args", "sent_at", "attempts", "lease_until")
        },
        o_old_version=option.version,
        o_status=after,
        o_paid_cents=paid["paid_cents"],
        o_paid_at=paid["paid_at"],
        o_version=paid["version"],
        h_from_state=before,
        h_cause=(cause or f"receipt:{receipt.receipt_id}")[:200],
    )
    ((receipt_pk, message_pk),) = driver.rows(session, receipt_sql.PAID_AT_ONCE, params)
    if receipt_pk is None:
        raise DuplicateReceipt(f"receipt {receipt.receipt_id} already stored")
    if message_pk is None:  # as the ORM's version check (the lock makes it impossible)
        raise StaleDataError(f"payment option {option.id} changed under its lock")
    receipt.id = receipt_pk
    make_transient_to_detached(receipt)  # the row as written: persistent, nothing to flush
    session.add(receipt)
    held = session.identity_map.get(session.identity_key(PaymentOption, option.id))
    if held is not None:  # as the row was locked, then moved
        for key in receipt_sql.LOCKED_COLUMNS:
            set_committed_value(held, key, getattr(option, key))
        for key, value in paid.items():
            set_committed_value(held, key, value)
    outbox.adopt_written(session, message_pk, message)
    _log_paid(option, before, after)
    return ReceiptOutcome(receipt=receipt, option=held, session=session, option_id=option.id)


def _store_in_one_statement(
    session: Session,
    receipt: Receipt,
    served_ente_ids: set[int],
    cause: str | None,
    now: dt.datetime,
) -> ReceiptOutcome | None:
    """An ordinary receipt stored, settled and committed by one statement in autocommit
    (``receipt_sql.RECEIPT_AT_ONCE``: one round trip, lock included) where the session has a
    connection in autocommit beside it (``driver.use_driver``: the station's fast path) and
    nothing of its own to write first. The same rows as ``_store_paid_at_once``; committed
    when this returns, whatever the session does next. None: not asked here, or not an
    ordinary receipt for an option of a served Ente (nothing written): the general path
    decides. Raises DuplicateReceipt (nothing written) for a receipt already stored. The
    receipt is then detached (its row committed, not the session's to write); its message is
    relayed after the session's commit."""
    if (
        not driver.runs_alone(session)
        or receipt.outcome != "OK"
        or receipt.standin
        or receipt.test  # a test station's: the general path marks it
        or session.new
        or session.dirty
        or session.deleted
        or not _receipt_statements_apply(session)
    ):
        return None
    receipt.received_at = now
    message = outbox.written_values(session, STATUS_CHANGED_ACTOR, now=now)
    state = receipt.__dict__
    params: dict[str, Any] = {
        bind: state.get(key)
        for key, bind in receipt_sql.RECEIPT_BINDS
        if key not in receipt_sql.FROM_LOCK and key != "test"
    }
    params.update(
        {f"m_{key}": message[key] for key in ("message_id", "sent_at", "attempts", "lease_until")},
        served=sorted(served_ente_ids),
        plan_now=now.astimezone(dt.UTC).replace(tzinfo=None),  # as UTCDateTime stores it
        h_cause=(cause or f"receipt:{receipt.receipt_id}")[:200],
    )
    # run twice (a dropped connection), it finds the option paid the first time: not ordinary
    found = driver.run_alone(session, receipt_sql.RECEIPT_AT_ONCE, params)
    if not found:  # not ordinary, or no such option (None: not on the driver)
        return None
    option = found[0]
    if option.receipt_pk is None:
        raise DuplicateReceipt(f"receipt {receipt.receipt_id} already stored")
    if option.message_pk is None:  # the lock makes it impossible: said loudly if ever seen
        log.error("payment.receipt_not_settled", option_id=option.id, receipt_pk=option.receipt_pk)
        raise StaleDataError(f"payment option {option.id} not moved under its lock")
    before, after = option.status, receipt_sql.ORDINARY_MOVES[option.status]
    receipt.ente_id, receipt.option_id, receipt.test = option.ente_id, option.id, False
    receipt.id = option.receipt_pk
    make_transient_to_detached(receipt)  # the row as committed, not the session's to write
    held = session.identity_map.get(session.identity_key(PaymentOption, option.id))
    if held is not None:  # written by another transaction: read again when next used
        session.expire(held)
    message["args"] = _change(option, before, after)  # as the statement built it
    outbox.adopt_committed(session, option.message_pk, message)
    _log_paid(option, before, after)
    return ReceiptOutcome(receipt=receipt, option=held, session=session, option_id=option.id)


def _paid(option: Any, paid_cents: int, now: dt.datetime) -> tuple[str, str, dict]:
    """A receipt's move of ``option``: (state before, state after, the option's new values).
    Raises IllegalTransition (the machine says no)."""
    before = option.status
    after = _target(before, "receive_receipt")
    values = {
        "status": after,
        "paid_cents": option.paid_cents + paid_cents,
        "paid_at": option.paid_at or now,
        "activation_expires_at": None,
        "version": option.version + 1,
    }
    return before, after, values


def _change(option: Any, before: str, after: str) -> dict[str, Any]:
    """A receipt's move as its follow-up message names it."""
    return {
        "option_id": option.id,
        "event": "receive_receipt",
        "from_state": before,
        "to_state": after,
    }


def _log_paid(option: Any, before: str, after: str) -> None:
    log.info(
        "payment.transition",
        option_id=option.id,
        payment_event="receive_receipt",
        from_state=before,
        to_state=after,
    )


def _receipt_statements_apply(session: Session) -> bool:
    """Whether a receipt's move may be written by our own statements rather than the unit of
    work: PostgreSQL, and an event the machine does not guard."""
    return (
        "receive_receipt" not in GUARDED_EVENTS and session.get_bind().dialect.name == "postgresql"
    )


def _can_write_at_once(session: Session, option: PaymentOption) -> bool:
    """Whether the receipt's transition can skip the unit of work: ``_receipt_statements_apply``
    and the option as the lock loaded it (persistent, nothing of it changed yet)."""
    state = sa.inspect(option)
    return _receipt_statements_apply(session) and state.persistent and not state.modified


def _receive_at_once(
    session: Session, option: PaymentOption, paid_cents: int, *, cause: str, now: dt.datetime
) -> None:
    """``apply_event(receive_receipt)`` and the paid amounts, written at once by three prebuilt
    statements (the option's UPDATE, its history row, the follow-up outbox row) instead of the
    ORM's flush at the commit, the costliest part of a receipt's CPU. The same rows as that
    path (the version counter checked and bumped, the history row feeding the counters'
    trigger, the outbox row leased as ``lease_pending`` leaves it); ``option`` is then
    updated as if loaded after the write, with nothing left to flush."""
    before, after, values = _paid(option, paid_cents, now)  # IllegalTransition: nothing written
    written = session.execute(
        _RECEIVE_UPDATE,
        {f"new_{k}": v for k, v in values.items()}
        | {"option_id": option.id, "old_version": option.version},
    )
    if cast("sa.CursorResult[Any]", written).rowcount != 1:  # as the ORM's version check
        raise StaleDataError(f"payment option {option.id} changed under its lock")
    for key, value in values.items():
        set_committed_value(option, key, value)
    session.execute(
        _HISTORY_INSERT,
        {
            "option_id": option.id,
            "event": "receive_receipt",
            "from_state": before,
            "to_state": after,
            "cause": cause[:200],
            "created_at": now,
        },
    )
    outbox.enqueue_written(session, STATUS_CHANGED_ACTOR, now=now, **_change(option, before, after))
    _log_paid(option, before, after)


_OPTION_TABLE = cast(sa.Table, PaymentOption.__table__)
_RECEIVE_UPDATE = (
    sa.update(_OPTION_TABLE)
    .where(
        _OPTION_TABLE.c.id == sa.bindparam("option_id"),
        _OPTION_TABLE.c.version == sa.bindparam("old_version"),
    )
    .values(
        {
            c: sa.bindparam(f"new_{c}", type_=_OPTION_TABLE.c[c].type)
            for c in ("status", "paid_cents", "paid_at", "activation_expires_at", "version")
        }
    )
)
_HISTORY_INSERT = sa.insert(cast(sa.Table, StateTransition.__table__))


def _seen_activation(session: Session, option_id: int) -> bool:
    """Whether a paGetPayment of ours activated the option (asked of Stand-In receipts only)."""
    return bool(session.scalar(sa.select(sa.exists().where(PaymentAttempt.option_id == option_id))))


def _flag(
    session: Session, outcome: ReceiptOutcome, kind: str, detail: str, *, refund_cents: int = 0
) -> None:
    option = outcome.option
    anomaly = Anomaly(
        kind=kind,
        ente_id=outcome.receipt.ente_id,
        option_id=option.id if option else None,
        receipt_pk=outcome.receipt.id,
        detail=detail[:500],
    )
    session.add(anomaly)
    if refund_cents > 0:
        refunds.open_for_anomaly(session, anomaly, amount_cents=refund_cents)
    outcome.anomalies.append(kind)
    log.warning("payment.anomaly", kind=kind, receipt_pk=outcome.receipt.id)


def _insert_receipt(session: Session, receipt: Receipt) -> bool:
    """Write ``receipt`` (then persistent in ``session``) unless this (EC fiscal code,
    receiptId) is already stored: False then, and nothing written; the transaction goes on.

    On PostgreSQL one ``INSERT ... ON CONFLICT DO NOTHING RETURNING id`` does what an existence
    check, a savepoint and the ORM's INSERT did in four round trips (the hottest write of the
    station); the row gets the values the ORM's flush would give it. Elsewhere: the check and
    a savepoint around the flush."""
    if session.get_bind().dialect.name != "postgresql" or not sa.inspect(receipt).transient:
        return _insert_receipt_portable(session, receipt)
    session.flush()  # what the receipt points at (a new option or Ente) must be written first
    values = {p.columns[0].key: value for p, value in _receipt_row(receipt)}
    inserted = session.execute(_RECEIPT_INSERT, values).scalar()
    if inserted is None:
        return False
    receipt.id = inserted
    make_transient_to_detached(receipt)  # the row as written: persistent, nothing to flush
    session.add(receipt)
    return True


def _fill_defaults(receipt: Receipt) -> None:
    """Give each unset column of a new ``receipt`` its default (``outcome`` OK, ``standin``
    false, ...), as the row will have it: what is read of it in memory is what is written."""
    state = receipt.__dict__
    for key, default in _RECEIPT_DEFAULTS:
        if state.get(key) is None:
            value = default.arg(None) if default.is_callable else default.arg  # type: ignore[attr-defined]
            setattr(receipt, key, value)


# (attribute, its column's default) of each receipt column that has one, worked out once
_RECEIPT_DEFAULTS = [
    (prop.key, prop.columns[0].default)
    for prop in receipt_sql.RECEIPT_COLUMNS
    if prop.columns[0].default is not None and not prop.columns[0].default.is_sequence
]


def _receipt_row(receipt: Receipt) -> list[tuple[Any, Any]]:
    """Each column of ``receipt`` (its attribute) with its value (``_fill_defaults`` has
    given the unset ones their default; a JSON column's None is JSON's null, as the ORM
    writes it)."""
    state = receipt.__dict__
    return [(prop, state.get(prop.key)) for prop in receipt_sql.RECEIPT_COLUMNS]


# the columns are the parameters' keys (the whole row: one compiled form)
_RECEIPT_INSERT = (
    pg_insert(receipt_sql.RECEIPT_TABLE)
    .on_conflict_do_nothing(
        index_elements=[
            receipt_sql.RECEIPT_TABLE.c.ec_fiscal_code,
            receipt_sql.RECEIPT_TABLE.c.receipt_id,
        ]
    )
    .returning(receipt_sql.RECEIPT_TABLE.c.id)
)


def _insert_receipt_portable(session: Session, receipt: Receipt) -> bool:
    exists = session.execute(
        sa.select(sa.func.count())
        .select_from(Receipt)
        .where(
            Receipt.ec_fiscal_code == receipt.ec_fiscal_code,
            Receipt.receipt_id == receipt.receipt_id,
        )
    ).scalar_one()
    if exists:
        return False
    try:
        with session.begin_nested():
            session.add(receipt)
            session.flush()
    except IntegrityError:
        return False
    return True
