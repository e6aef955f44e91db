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
