"""The SLA clock of activation and change requests, in working days of the help-desk calendar.

The intermediary promises to process a request within ``payhub.activation_target_days`` (15)
working days in 90 % of cases per four-month period (January-April, May-August,
September-December), counted from the moment it has everything it needs, leaving out the time
spent waiting for the Ente or for pagoPA. So the clock:

- runs only while the request is in one of ``CLOCK_RUNNING_STATES`` (received, confirmed in
  test: the intermediary's turn to configure), and only inside the calendar's business hours
  on business days (hub.calendar: weekends and Italian holidays, 4 October from 2026, are not
  counted);
- is paused while the request waits for the Ente (missing information, the referente verifying
  a configuration) or for pagoPA;
- stops for good once production is confirmed (or the request is rejected or cancelled).

A request opened incomplete goes straight to "waiting for the Ente": its clock starts when the
Ente completes it. A working day is one day's business hours (08:30-17:30 by default, 9 hours):
the clock is kept as business time and shown in days with one decimal. A request is *near* its
target when fewer than ``payhub.activation_warning_days`` (3) working days are left, *late*
past it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from hub.calendar import BusinessCalendar
from hub.clock import day_start
from hub.clock import now as clock_now
from hub.config import Config, as_config
from hub.models import ActivationRequest, ActivationStep
from workflows.activation import (
    CLOCK_DONE_STATES,
    CLOCK_RUNNING_STATES,
    SERVED_STATES,
)

TARGET_DAYS = 15
WARNING_DAYS = 3
PERIOD_START_MONTHS = (1, 5, 9)  # the four-month periods: Jan-Apr, May-Aug, Sep-Dec


class ClockStatus(StrEnum):
    OK = "ok"
    NEAR = "near"  # fewer than the warning days left
    LATE = "late"  # past the target
    DONE = "done"  # served within the target
    DONE_LATE = "done_late"  # served past the target
    STOPPED = "stopped"  # rejected or cancelled: not counted


def day_length(calendar: BusinessCalendar) -> dt.timedelta:
    """One working day of the calendar: its business hours."""
    day = dt.date(2000, 1, 3)
    return dt.datetime.combine(day, calendar.closes) - dt.datetime.combine(day, calendar.opens)


def in_days(span: dt.timedelta, calendar: BusinessCalendar) -> Decimal:
    """``span`` of business time in working days, one decimal."""
    days = Decimal(span.total_seconds()) / Decimal(day_length(calendar).total_seconds())
    return days.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class RequestClock:
    used: dt.timedelta  # business time counted so far
    target: dt.timedelta
    warning: dt.timedelta
    running: bool  # counting now
    started_at: dt.datetime | None  # first instant it counted (the request complete)
    stopped_at: dt.datetime | None  # served, rejected or cancelled
    served: bool
    due_at: dt.datetime | None  # when the target is reached if it keeps running
    calendar: BusinessCalendar

    @property
    def left(self) -> dt.timedelta:
        return self.target - self.used

    @property
    def used_days(self) -> Decimal:
        return in_days(self.used, self.calendar)

    @property
    def left_days(self) -> Decimal:
        return in_days(self.left, self.calendar)

    @property
    def within_target(self) -> bool:
        return self.used <= self.target

    @property
    def status(self) -> ClockStatus:
        if self.stopped_at is not None:
            if not self.served:
                return ClockStatus.STOPPED
            return ClockStatus.DONE if self.within_target else ClockStatus.DONE_LATE
        if not self.within_target:
            return ClockStatus.LATE
        if self.left < self.warning:
            return ClockStatus.NEAR
        return ClockStatus.OK


def clock_of(
    steps: Sequence[tuple[dt.datetime, str]],
    *,
    now: dt.datetime,
    calendar: BusinessCalendar,
    target_days: int = TARGET_DAYS,
    warning_days: int = WARNING_DAYS,
) -> RequestClock:
    """The clock of a request whose history is ``steps``: (instant, state entered), oldest
    first, the opening included. Pure: the caller gives ``now``."""
    unit = day_length(calendar)
    used = dt.timedelta(0)
    started = stopped = None
    served = running = False
    for index, (at, state) in enumerate(steps):
        if state in CLOCK_DONE_STATES:
            stopped, served = at, state in SERVED_STATES
            break
        if state not in CLOCK_RUNNING_STATES:
            continue
        end = steps[index + 1][0] if index + 1 < len(steps) else now
        running = index + 1 == len(steps)
        if started is None and end > at:
            started = at
        used += calendar.business_elapsed(at, end)
    target = unit * target_days
    due = calendar.deadline(now, target - used) if running and used < target else None
    return RequestClock(
        used=used,
        target=target,
        warning=unit * warning_days,
        running=running,
        started_at=started,
        stopped_at=stopped,
        served=served,
        due_at=due,
        calendar=calendar,
    )


def steps_of(request: ActivationRequest) -> list[tuple[dt.datetime, str]]:
    return [(s.at, s.to_state) for s in request.steps]


def request_clock(
    request: ActivationRequest,
    *,
    calendar: BusinessCalendar,
    now: dt.datetime | None = None,
    target_days: int = TARGET_DAYS,
    warning_days: int = WARNING_DAYS,
) -> RequestClock:
    return clock_of(
        steps_of(request),
        now=now or clock_now(),
        calendar=calendar,
        target_days=target_days,
        warning_days=warning_days,
    )


@dataclass(frozen=True)
class Rules:
    """The clock's rules from the settings: the help-desk calendar (hub.calendar's
    ``payhub.sla_*`` settings), ``payhub.activation_target_days`` and ``_warning_days``."""

    calendar: BusinessCalendar
    target_days: int = TARGET_DAYS
    warning_days: int = WARNING_DAYS

    @classmethod
    def from_settings(cls, settings: Config | Mapping[str, Any]) -> Rules:
        config = as_config(settings)
        return cls(
            BusinessCalendar.from_settings(config),
            config.activation_target_days,
            config.activation_warning_days,
        )

    def clock(self, request: ActivationRequest, now: dt.datetime | None = None) -> RequestClock:
        return request_clock(
            request,
            calendar=self.calendar,
            now=now,
            target_days=self.target_days,
            warning_days=self.warning_days,
        )


# -- the four-month share (the SLA report) --------------------------------------------------


@dataclass(frozen=True)
class FourMonthShare:
    """Requests served in the period (``served``), how many within target, and the requests
    still open at the period's end already past their target (``open_late``: they can only
    be late). ``share`` = within / (served + open_late), None when there were none."""

    start: dt.date
    end: dt.date  # first day of the next period
    served: int
    within_target: int
    open_late: int
    late_ids: tuple[int, ...]

    @property
    def counted(self) -> int:
        return self.served + self.open_late

    @property
    def share(self) -> Decimal | None:
        if not self.counted:
            return None
        return (Decimal(self.within_target) / Decimal(self.counted)).quantize(Decimal("0.0001"))


def period_end(start: dt.date) -> dt.date:
    """The first day after the four-month period starting ``start`` (1 January, 1 May or
    1 September; ValueError for any other day)."""
    if start.day != 1 or start.month not in PERIOD_START_MONTHS:
        raise ValueError("a four-month period starts on 1 January, 1 May or 1 September")
    if start.month == 9:
        return dt.date(start.year + 1, 1, 1)
    return dt.date(start.year, start.month + 4, 1)


def four_month_share(
    session: Session,
    start: dt.date,
    *,
    calendar: BusinessCalendar | None = None,
    target_days: int = TARGET_DAYS,
    now: dt.datetime | None = None,
) -> FourMonthShare:
    """The share of activation and change requests processed within ``target_days`` working
    days in the four-month period starting ``start`` (Italian dates; see ``period_end``).

    Counted: every request whose production was confirmed in the period (within target or
    not), and every request still open at the period's end (or ``now``, if earlier) whose
    clock is already past the target. Rejected and cancelled requests are not counted."""
    calendar = calendar or BusinessCalendar()
    end = period_end(start)
    begin, finish = day_start(start), day_start(end)
    moment = min(now or clock_now(), finish)
    served_here = (
        sa.select(ActivationStep.request_id)
        .where(ActivationStep.to_state.in_(SERVED_STATES))
        .where(ActivationStep.at >= begin, ActivationStep.at < finish)
    )
    open_then = sa.select(ActivationRequest.id).where(
        ActivationRequest.created_at < moment,
        ~sa.exists().where(
            ActivationStep.request_id == ActivationRequest.id,
            ActivationStep.to_state.in_(CLOCK_DONE_STATES),
            ActivationStep.at < moment,
        ),
    )
    requests = session.scalars(
        sa.select(ActivationRequest)
        .where(ActivationRequest.id.in_(served_here) | ActivationRequest.id.in_(open_then))
        .options(selectinload(ActivationRequest.steps))
        .order_by(ActivationRequest.id)
    )
    served = within = open_late = 0
    late: list[int] = []
    for request in requests:
        steps = [(at, state) for at, state in steps_of(request) if at < moment]
        clock = clock_of(steps, now=moment, calendar=calendar, target_days=target_days)
        if clock.served:
            served += 1
            within += clock.within_target
        elif clock.stopped_at is None and not clock.within_target:
            open_late += 1
        else:
            continue
        if not clock.within_target:
            late.append(request.id)
    return FourMonthShare(start, end, served, within, open_late, tuple(late))
