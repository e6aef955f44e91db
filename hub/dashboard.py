"""What the operators' dashboard and support's views read: counts by state, the latest
transitions, searches over payment options, one option's whole story, reporting flows and bank
credits, stuck payments and anomalies. Queries only, apart from ``resolve_anomaly``; scoping to
an account's Enti is the caller's (the web layer passes the Ente it has checked)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.db import ROME, utcnow
from hub.errors import Conflict, NotFound
from hub.models import (
    Anomaly,
    BankCredit,
    DebtPosition,
    Ente,
    PaymentAttempt,
    PaymentOption,
    Receipt,
    ReportingEntry,
    ReportingFlow,
    StateCount,
    StateTransition,
    Transfer,
    WebhookDelivery,
)
from hub.positions.gpd import ALREADY_PAID_CAUSE
from workflows.payment import INITIAL_STATE, OptionStatus

# the states one can search for once published: every state but the initial one
STATES = tuple(s for s in OptionStatus if s != INITIAL_STATE)
DEFAULT_ACTIVATION_GRACE = dt.timedelta(hours=1)
DEFAULT_PAID_DAYS = 3
DEFAULT_REPORTED_DAYS = 5


# --- dashboard -------------------------------------------------------------------------------


def period_starts(now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    """(start of today, start of this month) in Italian time, as UTC datetimes."""
    local = (now or utcnow()).astimezone(ROME)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    month = day.replace(day=1)
    return day.astimezone(dt.UTC), month.astimezone(dt.UTC)


def counts_by_state(
    session: Session, ente_id: int, since: dt.date | dt.datetime, *, service_id: int | None = None
) -> dict[str, tuple[int, int]]:
    """For each state: (how many times an option of the Ente entered it from the Italian day
    ``since`` on, their amount in cents), optionally for one service. Read from the counters
    (``state_count``, kept by a trigger in each transition's transaction): a few rows per day,
    whatever the size of the history. A datetime stands for its Italian day."""
    query = counts_by_state_query(ente_id, since, service_id=service_id)
    found = {state: (int(n), int(cents or 0)) for state, n, cents in session.execute(query)}
    return {state: found.get(state, (0, 0)) for state in STATES}


def counts_by_state_query(
    ente_id: int, since: dt.date | dt.datetime, *, service_id: int | None = None
) -> sa.Select[str, int, int]:
    if isinstance(since, dt.datetime):
        since = since.astimezone(ROME).date()
    query = (
        sa.select(
            StateCount.state, sa.func.sum(StateCount.options), sa.func.sum(StateCount.amount_cents)
        )
        .where(StateCount.ente_id == ente_id, StateCount.day >= since)
        .group_by(StateCount.state)
    )
    if service_id is not None:
        query = query.where(StateCount.service_id == service_id)
    return query


def latest_transitions(session: Session, ente_id: int, limit: int = 20) -> list[Any]:
    """The Ente's newest transitions: rows of (StateTransition, notice number, option id).

    The history has no Ente column: walking it newest first until ``limit`` of this Ente's
    turn up reads every other Ente's transitions on the way (a small Ente beside a large one:
    hundreds of thousands). So the counters say on which days the Ente had transitions, and
    the walk starts within its latest active days (the history's ``created_at`` index bounds
    it), widened four times over until ``limit`` rows are found or there is no earlier day."""
    active = (
        sa.select(StateCount.day)
        .where(StateCount.ente_id == ente_id)
        .group_by(StateCount.day)
        .order_by(StateCount.day.desc())
    )
    first = session.scalar(
        sa.select(sa.func.min(StateCount.day)).where(StateCount.ente_id == ente_id)
    )
    if first is None:
        return []  # no transition ever
    days = 1
    while True:
        day = session.scalar(active.offset(days - 1).limit(1))
        since = _day_start(first if day is None else day)
        rows = list(session.execute(latest_transitions_query(ente_id, limit, since)).all())
        if len(rows) >= limit or day is None or day == first:
            return rows
        days *= 4


def latest_transitions_query(
    ente_id: int, limit: int = 20, since: dt.datetime | None = None
) -> sa.Select[StateTransition, str, int]:
    query = (
        sa.select(StateTransition, PaymentOption.notice_number, PaymentOption.id)
        .join(PaymentOption, PaymentOption.id == StateTransition.option_id)
        .where(PaymentOption.ente_id == ente_id)
        .order_by(StateTransition.created_at.desc(), StateTransition.id.desc())
        .limit(limit)
    )
    if since is not None:
        query = query.where(StateTransition.created_at >= since)
    return query


# --- search ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    notice_number: str = ""
    iuv: str = ""
    iupd: str = ""
    debtor_fiscal_code: str = ""
    state: str = ""
    date_from: dt.date | None = None  # the option's creation day, Italian time
    date_to: dt.date | None = None

    @property
    def empty(self) -> bool:
        return not any(
            (
                self.notice_number,
                self.iuv,
                self.iupd,
                self.debtor_fiscal_code,
                self.state,
                self.date_from,
                self.date_to,
            )
        )


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), ROME).astimezone(dt.UTC)


def search_query(ente_id: int, f: Filters) -> sa.Select[PaymentOption, DebtPosition]:
    """Options of the Ente matching every given filter, newest first: rows of
    (PaymentOption, DebtPosition)."""
    query = (
        sa.select(PaymentOption, DebtPosition)
        .join(DebtPosition, DebtPosition.id == PaymentOption.position_id)
        .where(PaymentOption.ente_id == ente_id)
    )
    if f.notice_number:
        query = query.where(PaymentOption.notice_number == f.notice_number)
    if f.iuv:
        query = query.where(PaymentOption.iuv == f.iuv)
    if f.iupd:
        query = query.where(DebtPosition.iupd == f.iupd)
    if f.debtor_fiscal_code:
        query = query.where(DebtPosition.debtor_fiscal_code == f.debtor_fiscal_code.upper())
    if f.state:
        query = query.where(PaymentOption.status == f.state)
    if f.date_from:
        query = query.where(PaymentOption.created_at >= _day_start(f.date_from))
    if f.date_to:
        query = query.where(PaymentOption.created_at < _day_start(f.date_to + dt.timedelta(days=1)))
    return query.order_by(PaymentOption.id.desc())


def search(
    session: Session, ente_id: int, f: Filters, limit: int = 200, *, after: int | None = None
) -> list[Any]:
    """A page of ``search_query``: ``limit`` rows, after the option id ``after`` (keyset: the
    next page starts below the last id shown, however deep)."""
    query = search_query(ente_id, f)
    if after is not None:
        query = query.where(PaymentOption.id < after)
    return list(session.execute(query.limit(limit)).all())


def stream_search(
    session: Session, ente_id: int, f: Filters, *, batch: int = 2000
) -> Iterator[Any]:
    """Every matching row for an export, newest first, as plain column rows (``EXPORT_COLUMNS``
    by name): one keyset query per ``batch`` rows (``id < last id``), so memory stays flat,
    no server-side cursor or identity map lives across batches, and nothing is skipped."""
    last: int | None = None
    while True:
        query = search_query(ente_id, f).with_only_columns(*EXPORT_COLUMNS)
        if last is not None:
            query = query.where(PaymentOption.id < last)
        rows = session.execute(query.limit(batch)).all()
        yield from rows
        if len(rows) < batch:
            return
        last = rows[-1].id


EXPORT_COLUMNS = (
    PaymentOption.id,
    DebtPosition.iupd,
    PaymentOption.notice_number,
    PaymentOption.iuv,
    DebtPosition.debtor_fiscal_code,
    DebtPosition.debtor_name,
    sa.func.coalesce(PaymentOption.description, DebtPosition.description).label("description"),
    PaymentOption.amount_cents,
    PaymentOption.due_date,
    PaymentOption.status,
    PaymentOption.paid_cents,
    PaymentOption.paid_at,
    PaymentOption.created_at,
)


# --- one option ------------------------------------------------------------------------------


def find_option(session: Session, ente_id: int, option_id: int) -> PaymentOption:
    option = session.get(PaymentOption, option_id)
    if option is None or option.ente_id != ente_id:
        raise NotFound("no such payment option")
    return option


def option_story(session: Session, option: PaymentOption) -> dict[str, list[Any]]:
    """Everything about one option, each list oldest first."""
    by_option: dict[str, tuple[Any, Any, Any]] = {
        "transfers": (Transfer, Transfer.option_id, Transfer.id_transfer),
        "attempts": (PaymentAttempt, PaymentAttempt.option_id, PaymentAttempt.id),
        "receipts": (Receipt, Receipt.option_id, Receipt.id),
        "transitions": (StateTransition, StateTransition.option_id, StateTransition.id),
        "anomalies": (Anomaly, Anomaly.option_id, Anomaly.id),
    }
    story: dict[str, list[Any]] = {
        name: list(session.scalars(sa.select(model).where(column == option.id).order_by(order)))
        for name, (model, column, order) in by_option.items()
    }
    story["deliveries"] = list(
        session.scalars(
            sa.select(WebhookDelivery)
            .where(
                WebhookDelivery.ente_id == option.ente_id,
                WebhookDelivery.payload["noticeNumber"].as_string() == option.notice_number,
            )
            .order_by(WebhookDelivery.id)
        )
    )
    story["entries"] = list(
        session.execute(
            sa.select(ReportingEntry, ReportingFlow.flow_id)
            .join(ReportingFlow, ReportingFlow.id == ReportingEntry.flow_pk)
            .where(ReportingEntry.option_id == option.id)
            .order_by(ReportingEntry.id)
        ).all()
    )
    return story


# --- reporting flows and bank credits --------------------------------------------------------


def flows(session: Session, ente_id: int, limit: int = 200) -> list[Any]:
    """The Ente's flows, newest first: rows of (ReportingFlow, credited?)."""
    credited = sa.exists(
        sa.select(BankCredit.id).where(
            BankCredit.flow_pk == ReportingFlow.id, BankCredit.status == "matched"
        )
    )
    return list(
        session.execute(
            sa.select(ReportingFlow, credited.label("credited"))
            .where(ReportingFlow.ente_id == ente_id)
            .order_by(ReportingFlow.flow_datetime.desc(), ReportingFlow.id.desc())
            .limit(limit)
        ).all()
    )


def find_flow(session: Session, ente_id: int, flow_pk: int) -> ReportingFlow:
    flow = session.get(ReportingFlow, flow_pk)
    if flow is None or flow.ente_id != ente_id:
        raise NotFound("no such reporting flow")
    return flow


def flow_entries(session: Session, flow: ReportingFlow) -> list[Any]:
    """The flow's entries with the notice number of the matched option (or None)."""
    return list(
        session.execute(
            sa.select(ReportingEntry, PaymentOption.notice_number)
            .outerjoin(PaymentOption, PaymentOption.id == ReportingEntry.option_id)
            .where(ReportingEntry.flow_pk == flow.id)
            .order_by(ReportingEntry.id)
        ).all()
    )


def flow_credits(session: Session, flow: ReportingFlow) -> list[BankCredit]:
    return list(
        session.scalars(
            sa.select(BankCredit).where(BankCredit.flow_pk == flow.id).order_by(BankCredit.id)
        )
    )


def bank_credits(session: Session, ente_id: int, limit: int = 200) -> list[Any]:
    """The Ente's credits, newest first: rows of (BankCredit, matched flow's id or None)."""
    return list(
        session.execute(
            sa.select(BankCredit, ReportingFlow.flow_id)
            .outerjoin(ReportingFlow, ReportingFlow.id == BankCredit.flow_pk)
            .where(BankCredit.ente_id == ente_id)
            .order_by(BankCredit.id.desc())
            .limit(limit)
        ).all()
    )


# --- support: stuck payments and anomalies ---------------------------------------------------


SUPPORT_ROWS = 500  # rows per support list; the next ones with ``after`` (keyset)


def _with_ente(
    query: sa.Select[Any], limit: int = SUPPORT_ROWS, after: int | None = None
) -> sa.Select[Any]:
    if after is not None:
        query = query.where(PaymentOption.id > after)
    return (
        query.add_columns(Ente.fiscal_code)
        .join(Ente, Ente.id == PaymentOption.ente_id)
        .order_by(PaymentOption.id)
        .limit(limit)
    )


def stuck_in_progress(
    session: Session,
    *,
    grace: dt.timedelta = DEFAULT_ACTIVATION_GRACE,
    now: dt.datetime | None = None,
    limit: int = SUPPORT_ROWS,
    after: int | None = None,
) -> list[Any]:
    """Options in progress whose activation expired more than ``grace`` ago, no receipt."""
    now = now or utcnow()
    receipt = sa.select(Receipt.id).where(Receipt.option_id == PaymentOption.id)
    return list(
        session.execute(
            _with_ente(
                sa.select(PaymentOption).where(
                    PaymentOption.status == OptionStatus.IN_PROGRESS,
                    PaymentOption.activation_expires_at < now - grace,
                    ~sa.exists(receipt),
                ),
                limit,
                after,
            )
        ).all()
    )


def paid_not_reported(
    session: Session,
    *,
    days: int = DEFAULT_PAID_DAYS,
    now: dt.datetime | None = None,
    limit: int = SUPPORT_ROWS,
    after: int | None = None,
) -> list[Any]:
    now = now or utcnow()
    return list(
        session.execute(
            _with_ente(
                sa.select(PaymentOption).where(
                    PaymentOption.status == OptionStatus.PAID,
                    PaymentOption.paid_at < now - dt.timedelta(days=days),
                    # paid outside pagoPA (GPD's setPaymentOptionAsAlreadyPaid): no reporting
                    # flow will ever report it
                    ~sa.exists().where(
                        StateTransition.option_id == PaymentOption.id,
                        StateTransition.to_state == OptionStatus.PAID,
                        StateTransition.cause.endswith(ALREADY_PAID_CAUSE),
                    ),
                ),
                limit,
                after,
            )
        ).all()
    )


def reported_not_reconciled(
    session: Session,
    *,
    days: int = DEFAULT_REPORTED_DAYS,
    now: dt.datetime | None = None,
    limit: int = SUPPORT_ROWS,
    after: int | None = None,
) -> list[Any]:
    now = now or utcnow()
    reported_at = (
        sa.select(sa.func.max(StateTransition.created_at))
        .where(
            StateTransition.option_id == PaymentOption.id,
            StateTransition.to_state == OptionStatus.REPORTED,
        )
        .scalar_subquery()
    )
    return list(
        session.execute(
            _with_ente(
                sa.select(PaymentOption).where(
                    PaymentOption.status == OptionStatus.REPORTED,
                    reported_at < now - dt.timedelta(days=days),
                ),
                limit,
                after,
            )
        ).all()
    )


def open_anomalies(
    session: Session, *, kind: str = "", ente_id: int | None = None, limit: int = 200
) -> list[Any]:
    """Unresolved anomalies, newest first: rows of (Anomaly, Ente code or None)."""
    query = (
        sa.select(Anomaly, Ente.fiscal_code)
        .outerjoin(Ente, Ente.id == Anomaly.ente_id)
        .where(Anomaly.resolved_at.is_(None))
    )
    if kind:
        query = query.where(Anomaly.kind == kind)
    if ente_id is not None:
        query = query.where(Anomaly.ente_id == ente_id)
    return list(session.execute(query.order_by(Anomaly.id.desc()).limit(limit)).all())


def anomaly_kinds(session: Session) -> list[str]:
    return list(session.scalars(sa.select(Anomaly.kind).distinct().order_by(Anomaly.kind)))


def resolve_anomaly(
    session: Session, anomaly_id: int, *, note: str, by: str, now: dt.datetime | None = None
) -> Anomaly:
    """Mark an anomaly resolved with support's note. Raises NotFound, or Conflict when it is
    already resolved."""
    anomaly = session.get(Anomaly, anomaly_id, with_for_update=True)
    if anomaly is None:
        raise NotFound("no such anomaly")
    if anomaly.resolved_at is not None:
        raise Conflict("the anomaly is already resolved", code="already_resolved")
    anomaly.resolved_at, anomaly.resolution_note = now or utcnow(), note
    anomaly.resolved_by = by[:100]
    return anomaly
