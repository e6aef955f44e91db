"""The SLA clock of activation requests: working days on the help-desk calendar, paused while
waiting for the Ente or pagoPA, across weekends and Italian holidays."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal

import pytest

from hub.calendar import BusinessCalendar
from hub.onboarding.sla import ClockStatus, clock_of, period_end
from workflows.activation import RequestState as S

ROME = zoneinfo.ZoneInfo("Europe/Rome")
CAL = BusinessCalendar()


def at(y: int, m: int, d: int, h: int = 9, minute: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, h, minute, tzinfo=ROME)


def days(steps, now, calendar=CAL, **kw):
    return clock_of(steps, now=now, calendar=calendar, **kw)


def test_a_weekend_is_not_counted():
    # Friday 27 November 2026 09:00 to Monday 30 November 09:00: 8.5 h + 0.5 h = one day
    clock = days([(at(2026, 11, 27), S.RECEIVED)], at(2026, 11, 30))
    assert clock.used == dt.timedelta(hours=9)
    assert clock.used_days == Decimal("1.0")
    assert clock.running and clock.status == ClockStatus.OK


def test_an_italian_holiday_is_not_counted():
    # Monday 7 December 2026 09:00 to Wednesday 9 December 09:00: the 8th (Immacolata) is off
    clock = days([(at(2026, 12, 7), S.RECEIVED)], at(2026, 12, 9))
    assert clock.used_days == Decimal("1.0")


def test_san_francesco_counts_from_2026():
    # 4 October 2026 is a Sunday; 4 October 2027 a Monday, a holiday since law 151/2025
    friday, tuesday = at(2027, 10, 1), at(2027, 10, 5)
    assert days([(friday, S.RECEIVED)], tuesday).used_days == Decimal("1.0")
    without = BusinessCalendar(san_francesco_from=0)
    assert days([(friday, S.RECEIVED)], tuesday, without).used_days == Decimal("2.0")
    # the 2026 weekend of San Francesco: Friday 2 to Monday 5 October is one working day
    assert days([(at(2026, 10, 2), S.RECEIVED)], at(2026, 10, 5)).used_days == Decimal("1.0")


def test_waiting_for_the_ente_or_pagopa_pauses_the_clock():
    steps = [
        (at(2026, 11, 2), S.RECEIVED),  # Monday: two days run
        (at(2026, 11, 4), S.WAITING_ENTE),  # a week waiting for the Ente
        (at(2026, 11, 11), S.RECEIVED),  # one day runs
        (at(2026, 11, 12), S.CONFIGURED_TEST),  # the referente verifies for three days
        (at(2026, 11, 17), S.CONFIRMED_TEST),  # half a day runs
        (at(2026, 11, 17, 13, 30), S.WAITING_PAGOPA),  # pagoPA takes a week
    ]
    clock = days(steps, at(2026, 11, 24))
    assert clock.used_days == Decimal("3.5")
    assert not clock.running and clock.due_at is None
    assert clock.status == ClockStatus.OK
    assert clock.started_at == at(2026, 11, 2)


def test_an_incomplete_request_starts_its_clock_when_completed():
    steps = [
        (at(2026, 11, 2), S.RECEIVED),
        (at(2026, 11, 2), S.WAITING_ENTE),
        (at(2026, 11, 9), S.RECEIVED),
    ]
    clock = days(steps, at(2026, 11, 10))
    assert clock.used_days == Decimal("1.0")
    assert clock.started_at == at(2026, 11, 9)


def test_the_due_date_skips_weekends_and_holidays():
    # received Monday 30 November 2026 09:00: 15 working days skip three weekends and
    # 8 December, and end on Tuesday 22 December at 09:00
    clock = days([(at(2026, 11, 30), S.RECEIVED)], at(2026, 11, 30))
    assert clock.due_at == at(2026, 12, 22)
    # with a pause of the whole week of 7 December the due date moves a week later
    paused = [
        (at(2026, 11, 30), S.RECEIVED),
        (at(2026, 12, 7), S.WAITING_ENTE),
        (at(2026, 12, 14), S.RECEIVED),
    ]
    # 5 days used; 10 left from Monday 14 December 09:00: Christmas, Santo Stefano and the
    # weekends off, they end on Tuesday 29 December
    assert days(paused, at(2026, 12, 14)).due_at == at(2026, 12, 29)


def test_near_and_past_the_target():
    start = at(2026, 11, 2)
    assert days([(start, S.RECEIVED)], at(2026, 11, 18)).status == ClockStatus.OK  # 12 days
    near = days([(start, S.RECEIVED)], at(2026, 11, 19))  # 13 days: 2 left, fewer than 3
    assert near.status == ClockStatus.NEAR and near.left_days == Decimal("2.0")
    exactly = days([(start, S.RECEIVED)], at(2026, 11, 23))  # 15 days: still within
    assert exactly.within_target and exactly.status == ClockStatus.NEAR
    late = days([(start, S.RECEIVED)], at(2026, 11, 23, 9, 1))
    assert late.status == ClockStatus.LATE and late.left_days == Decimal("0.0")
    assert late.left < dt.timedelta(0)


def test_the_clock_stops_when_production_is_confirmed():
    steps = [
        (at(2026, 11, 2), S.RECEIVED),
        (at(2026, 11, 3), S.CONFIGURED_TEST),
        (at(2026, 11, 4), S.CONFIRMED_TEST),
        (at(2026, 11, 5), S.CONFIGURED_PRODUCTION),
        (at(2026, 11, 6), S.CONFIRMED_PRODUCTION),
        (at(2026, 11, 9), S.CLOSED),
    ]
    clock = days(steps, at(2027, 1, 1))
    assert clock.used_days == Decimal("2.0")
    assert clock.status == ClockStatus.DONE and clock.stopped_at == at(2026, 11, 6)


def test_a_cancelled_request_is_stopped_not_served():
    clock = days([(at(2026, 11, 2), S.RECEIVED), (at(2026, 11, 3), S.CANCELLED)], at(2026, 12, 1))
    assert clock.status == ClockStatus.STOPPED and not clock.served


def test_the_target_follows_the_settings():
    clock = days([(at(2026, 11, 2), S.RECEIVED)], at(2026, 11, 5), target_days=2)
    assert clock.status == ClockStatus.LATE


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (dt.date(2026, 1, 1), dt.date(2026, 5, 1)),
        (dt.date(2026, 5, 1), dt.date(2026, 9, 1)),
        (dt.date(2026, 9, 1), dt.date(2027, 1, 1)),
    ],
)
def test_four_month_periods(start, end):
    assert period_end(start) == end


@pytest.mark.parametrize("start", [dt.date(2026, 2, 1), dt.date(2026, 5, 2)])
def test_a_period_starts_on_its_first_day(start):
    with pytest.raises(ValueError, match="four-month period"):
        period_end(start)
