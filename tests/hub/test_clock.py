"""The one clock: the Italian business date decides "what day is it" for paVerify,
paGetPayment and expiry alike, including between 00:00 and 02:00 Italian time, when the UTC
date is still yesterday's."""

from __future__ import annotations

import datetime as dt

import pytest

from hub import clock, payments
from hub.errors import PaymentExpired
from tests.factories import make_ente, make_position

pytestmark = pytest.mark.pg

# 00:30 on 1 July in Italy (summer time, +02:00) is still 30 June in UTC
JUST_AFTER_MIDNIGHT = dt.datetime(2026, 6, 30, 22, 30, tzinfo=dt.UTC)


def test_the_business_date_is_the_italian_one_in_summer_and_winter():
    assert clock.business_date(JUST_AFTER_MIDNIGHT) == dt.date(2026, 7, 1)
    assert clock.business_date(dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.UTC)) == dt.date(
        2027, 1, 1
    )
    assert clock.business_date(dt.datetime(2026, 12, 31, 22, 59, tzinfo=dt.UTC)) == dt.date(
        2026, 12, 31
    )
    assert clock.day_start(dt.date(2026, 7, 1)) == dt.datetime(2026, 6, 30, 22, 0, tzinfo=dt.UTC)


def test_a_fake_clock_is_what_every_reader_sees_and_goes_away_after_the_block():
    from hub.db import utcnow

    with clock.use(clock.FakeClock(JUST_AFTER_MIDNIGHT)) as fake:
        assert utcnow() == JUST_AFTER_MIDNIGHT and clock.today() == dt.date(2026, 7, 1)
        fake.advance(dt.timedelta(hours=1))
        assert clock.now() == JUST_AFTER_MIDNIGHT + dt.timedelta(hours=1)
    assert abs(clock.now() - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=5)
    with pytest.raises(ValueError):
        clock.FakeClock(dt.datetime(2026, 1, 1))


def test_after_italian_midnight_verify_activation_and_expiry_agree_the_notice_expired(db):
    from actors.expiry import expire_chunk

    ente = make_ente(db)
    option = make_position(db, ente, retention_date=dt.date(2026, 6, 30)).options[0]
    with clock.use(clock.FakeClock(JUST_AFTER_MIDNIGHT)):
        summary = payments.notice_summary(db, ente.id, option.notice_number)
        with pytest.raises(PaymentExpired):  # what paVerify asks
            payments.check_payable(summary, clock.today())
        with pytest.raises(PaymentExpired):  # what paGetPayment asks
            payments.activate(
                db, ente, option.notice_number, requested_cents=3000, primitive="paGetPaymentV2"
            )
        expired, _ = expire_chunk(db)
    assert expired == 1 and option.status == "expired"


def test_the_evening_before_it_is_still_payable_everywhere(db):
    ente = make_ente(db)
    option = make_position(db, ente, retention_date=dt.date(2026, 6, 30)).options[0]
    with clock.use(clock.FakeClock(JUST_AFTER_MIDNIGHT - dt.timedelta(hours=1))):
        summary = payments.notice_summary(db, ente.id, option.notice_number)
        assert payments.check_payable(summary, clock.today()) is summary
        activated = payments.activate(
            db, ente, option.notice_number, requested_cents=3000, primitive="paGetPaymentV2"
        )
    assert activated.status == "in_progress"


def test_show_gives_italian_time_naming_the_zone_where_asked():
    import datetime as dt

    from hub.clock import show

    winter = dt.datetime(2026, 1, 15, 23, 30, tzinfo=dt.UTC)
    summer = dt.datetime(2026, 7, 15, 12, 5, 9, tzinfo=dt.UTC)
    assert show(winter) == "2026-01-16 00:30"  # already tomorrow in Italy
    assert show(winter, zone=True) == "2026-01-16 00:30 CET"
    assert show(summer, zone=True, seconds=True) == "2026-07-15 14:05:09 CEST"
    assert show(summer.replace(tzinfo=None)) == "2026-07-15 14:05"  # a stored naive UTC time
    assert show(None) == ""
