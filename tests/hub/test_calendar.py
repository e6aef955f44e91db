"""The help-desk calendar: Italian holidays, business hours, clocks that pause (and DST)."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.calendar import BusinessCalendar, easter_sunday, national_holidays

ROME = zoneinfo.ZoneInfo("Europe/Rome")
CAL = BusinessCalendar()


def rome(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=ROME)


@pytest.mark.parametrize(
    ("year", "easter"),
    [
        (2024, dt.date(2024, 3, 31)),
        (2025, dt.date(2025, 4, 20)),
        (2026, dt.date(2026, 4, 5)),
        (2027, dt.date(2027, 3, 28)),
        (2038, dt.date(2038, 4, 25)),
        (2000, dt.date(2000, 4, 23)),
    ],
)
def test_easter_sunday_matches_the_published_dates(year, easter):
    assert easter_sunday(year) == easter


def test_national_holidays_include_easter_monday_and_san_francesco_from_2026():
    days = national_holidays(2027)
    assert dt.date(2027, 3, 29) in days  # Easter Monday
    assert dt.date(2027, 10, 4) in days
    assert dt.date(2025, 10, 4) not in national_holidays(2025)
    assert dt.date(2027, 10, 4) not in national_holidays(2027, san_francesco_from=0)
    assert len(national_holidays(2027)) == 13  # ten fixed, Easter Sunday and Monday, 4 Oct


def test_local_holidays_and_hours_come_from_settings():
    cal = BusinessCalendar.from_settings(
        {
            "payhub.sla_local_holidays": "10-04 2026-12-07",  # San Petronio; Sant'Ambrogio once
            "payhub.sla_business_hours": "09:00-13:00",
            "payhub.sla_business_days": "mon tue",
            "payhub.sla_san_francesco_from": "0",
        }
    )
    assert cal.is_holiday(dt.date(2025, 10, 4)) and cal.is_holiday(dt.date(2026, 12, 7))
    assert not cal.is_holiday(dt.date(2027, 12, 7))
    assert cal.is_open(rome(2026, 11, 24, 12, 0))  # a Tuesday
    assert not cal.is_open(rome(2026, 11, 24, 13, 30))
    assert not cal.is_open(rome(2026, 11, 25, 10, 0))  # a Wednesday


@pytest.mark.parametrize(
    "bad",
    [
        {"payhub.sla_business_hours": "18:00-09:00"},
        {"payhub.sla_business_days": ""},
        {"payhub.sla_local_holidays": "02-30"},
    ],
)
def test_a_calendar_that_could_never_work_is_refused(bad):
    with pytest.raises(ValueError):
        BusinessCalendar.from_settings(bad)


def test_a_clock_started_on_friday_afternoon_pauses_over_the_weekend():
    # Friday 27 Nov 2026, 16:30: one hour left that day, the other three on Monday
    assert CAL.deadline(rome(2026, 11, 27, 16, 30), dt.timedelta(hours=4)) == rome(
        2026, 11, 30, 11, 30
    )


def test_a_clock_skips_christmas_and_santo_stefano():
    # Thursday 24 Dec 2026 17:00; 25 and 26 are holidays, 27 is a Sunday
    assert CAL.deadline(rome(2026, 12, 24, 17, 0), dt.timedelta(hours=1)) == rome(
        2026, 12, 28, 9, 0
    )


def test_a_clock_started_at_night_starts_at_the_next_opening():
    assert CAL.deadline(rome(2026, 11, 26, 23, 0), dt.timedelta(minutes=30)) == rome(
        2026, 11, 27, 9, 0
    )


def test_business_hours_keep_nine_real_hours_on_dst_days():
    # summer time starts Sunday 29 Mar 2026 and ends Sunday 25 Oct 2026: take the Mondays
    # after and the Fridays before, across the change
    assert CAL.business_elapsed(rome(2026, 3, 27, 8, 0), rome(2026, 3, 30, 20, 0)) == dt.timedelta(
        hours=18
    )
    assert CAL.business_elapsed(
        rome(2026, 10, 23, 8, 0), rome(2026, 10, 26, 20, 0)
    ) == dt.timedelta(hours=18)
    # a calendar open round the clock on every day sees the 23- and 25-hour days
    always = BusinessCalendar(
        opens=dt.time(0, 0),
        closes=dt.time(23, 59, 59),
        weekdays=frozenset(range(7)),
        san_francesco_from=0,
    )
    assert always.business_elapsed(
        rome(2026, 3, 29, 0, 0), rome(2026, 3, 29, 23, 0)
    ) == dt.timedelta(hours=22)


def test_naive_datetimes_and_negative_durations_are_refused():
    with pytest.raises(ValueError):
        CAL.deadline(dt.datetime(2026, 1, 2, 9, 0), dt.timedelta(hours=1))
    with pytest.raises(ValueError):
        CAL.deadline(rome(2026, 1, 2, 9, 0), dt.timedelta(hours=-1))


LOCAL = BusinessCalendar(yearly_holidays=frozenset({(10, 4)}), san_francesco_from=2026)
moments = st.datetimes(
    min_value=dt.datetime(2025, 1, 1),
    max_value=dt.datetime(2028, 12, 31),
    timezones=st.just(dt.UTC),
)
durations = st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(hours=400))


@settings(max_examples=300, deadline=None)
@given(start=moments, duration=durations)
def test_elapsed_until_the_deadline_is_the_duration(start, duration):
    assert LOCAL.business_elapsed(start, LOCAL.deadline(start, duration)) == duration


@settings(max_examples=300, deadline=None)
@given(start=moments, duration=durations.filter(bool))
def test_a_deadline_never_falls_on_a_holiday_or_outside_hours(start, duration):
    end = LOCAL.deadline(start, duration)
    assert end > start
    assert LOCAL.is_business_day(end.date())
    assert LOCAL.opens < end.timetz().replace(tzinfo=None) <= LOCAL.closes


@settings(max_examples=200, deadline=None)
@given(start=moments, a=durations, b=durations)
def test_deadlines_and_elapsed_time_are_monotonic(start, a, b):
    small, large = sorted((a, b))
    assert LOCAL.deadline(start, small) <= LOCAL.deadline(start, large)
    end_small, end_large = start + small, start + large
    assert LOCAL.business_elapsed(start, end_small) <= LOCAL.business_elapsed(start, end_large)
    assert LOCAL.business_elapsed(start, end_large) <= large


@settings(max_examples=100, deadline=None)
@given(
    day=st.sampled_from(
        [
            dt.date(2026, 3, 27),
            dt.date(2026, 3, 30),
            dt.date(2026, 10, 23),
            dt.date(2026, 10, 26),
            dt.date(2027, 3, 26),
            dt.date(2027, 11, 1),
        ]
    ),
    minutes=st.integers(min_value=0, max_value=3 * 540),
)
def test_dst_weeks_keep_the_round_trip(day, minutes):
    start = rome(day.year, day.month, day.day, 7, 0)
    duration = dt.timedelta(minutes=minutes)
    assert LOCAL.business_elapsed(start, LOCAL.deadline(start, duration)) == duration


# -- the contract's hours: Monday-Friday 08:30-18:30, Saturday 08:30-13:30 -------------------
CONTRACT_HOURS = "mon-fri 08:30-18:30; sat 08:30-13:30"


def contract(**extra: str) -> BusinessCalendar:
    return BusinessCalendar.from_settings(
        {
            "payhub.sla_business_hours": CONTRACT_HOURS,
            **{f"payhub.{k}": v for k, v in extra.items()},
        }
    )


def test_hours_per_weekday_are_read_from_the_setting():
    cal = contract()
    assert cal.hours(0) == (dt.time(8, 30), dt.time(18, 30))
    assert cal.hours(4) == (dt.time(8, 30), dt.time(18, 30))
    assert cal.hours(5) == (dt.time(8, 30), dt.time(13, 30))
    assert cal.hours(6) is None
    # the old single range still means every business day the same
    assert CAL.hours(0) == (dt.time(8, 30), dt.time(17, 30)) and CAL.hours(5) is None


@pytest.mark.parametrize(
    "bad",
    ["mon-fri", "mon-fri 8.30-18", "xyz 08:30-12:00", "fri-mon 08:30-12:00", "sat 13:00-12:00"],
)
def test_malformed_hours_per_weekday_are_refused(bad):
    with pytest.raises(ValueError):
        BusinessCalendar.from_settings({"payhub.sla_business_hours": bad})


def test_saturday_is_a_half_day():
    cal = contract()
    # Saturday 9 January 2027: five hours, 08:30-13:30
    assert cal.business_elapsed(rome(2027, 1, 9, 0, 0), rome(2027, 1, 10, 0, 0)) == dt.timedelta(
        hours=5
    )
    assert cal.is_open(rome(2027, 1, 9, 13, 0)) and not cal.is_open(rome(2027, 1, 9, 14, 0))
    # a 60-minute clock started Saturday at 13:00 runs 30 minutes, then waits for Monday
    assert cal.deadline(rome(2027, 1, 9, 13, 0), dt.timedelta(minutes=60)) == rome(
        2027, 1, 11, 9, 0
    )


def test_a_ticket_opened_friday_at_six_pm():
    cal = contract()
    friday = rome(2027, 1, 8, 18, 0)
    # 30 minutes left on Friday, 5 hours on Saturday, then Monday
    assert cal.deadline(friday, dt.timedelta(minutes=60)) == rome(2027, 1, 9, 9, 0)
    assert cal.deadline(friday, dt.timedelta(minutes=240)) == rome(2027, 1, 9, 12, 0)
    assert cal.deadline(friday, dt.timedelta(minutes=480)) == rome(2027, 1, 11, 11, 0)
    # the old Monday-Friday 08:30-17:30 calendar: Friday 18:00 is already closed
    assert CAL.deadline(friday, dt.timedelta(minutes=60)) == rome(2027, 1, 11, 9, 30)


def test_contract_hours_across_the_dst_changes():
    cal = contract()
    # summer time starts Sunday 29 March 2026: Saturday 28 (5 h) + Monday 30 (10 h)
    assert cal.business_elapsed(rome(2026, 3, 28, 0, 0), rome(2026, 3, 31, 0, 0)) == dt.timedelta(
        hours=15
    )
    # and ends Sunday 25 October 2026: Saturday 24 (5 h) + Monday 26 (10 h)
    assert cal.business_elapsed(rome(2026, 10, 24, 0, 0), rome(2026, 10, 27, 0, 0)) == dt.timedelta(
        hours=15
    )
    # a deadline computed across the change lands on the right wall-clock time
    due = cal.deadline(rome(2026, 3, 28, 13, 0), dt.timedelta(hours=1))
    assert due == rome(2026, 3, 30, 9, 0) and due.utcoffset() == dt.timedelta(hours=2)
    due = cal.deadline(rome(2026, 10, 24, 13, 0), dt.timedelta(hours=1))
    assert due == rome(2026, 10, 26, 9, 0) and due.utcoffset() == dt.timedelta(hours=1)


def test_holidays_national_and_patron_saint_close_the_desk_even_on_saturday():
    cal = contract(sla_local_holidays="06-29")  # Rome's patron saints, Peter and Paul
    # Saturday 8 December 2029 (Immacolata) is a holiday: no half day
    assert cal.window(dt.date(2029, 12, 8)) is None
    # Tuesday 29 June 2027 is the patron saint's day: closed; Wednesday open
    assert cal.window(dt.date(2027, 6, 29)) is None and cal.window(dt.date(2027, 6, 30))
    assert contract().window(dt.date(2027, 6, 29)) is not None
    # Easter Monday 29 March 2027 counts as a holiday too
    assert cal.is_holiday(dt.date(2027, 3, 29))


def test_working_days_skip_sundays_and_holidays():
    cal = BusinessCalendar()  # Monday-Friday
    # 15 working days from Monday 14 December 2026: 25, 26 December and 1, 6 January skipped
    assert cal.add_business_days(rome(2026, 12, 14, 10, 0), 15) == dt.date(2027, 1, 7)
    assert cal.business_days_between(rome(2026, 12, 14, 10, 0), rome(2027, 1, 7, 17, 0)) == 15
