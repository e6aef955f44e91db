"""Receipt times without an offset are Italian local time, summer time included."""

from __future__ import annotations

import datetime as dt

import pytest
from lxml import etree

from soap.receipts import _datetime


def stamp(value: str) -> dt.datetime | None:
    return _datetime(
        etree.fromstring(f"<receipt><paymentDateTime>{value}</paymentDateTime></receipt>"),
        "paymentDateTime",
    )


@pytest.mark.parametrize(
    ("local", "utc"),
    [
        ("2026-01-15T10:00:00", "2026-01-15T09:00:00"),  # CET, +01:00
        ("2026-07-15T10:00:00", "2026-07-15T08:00:00"),  # CEST, +02:00
        ("2026-03-29T03:30:00", "2026-03-29T01:30:00"),  # first hour of summer time
        ("2026-10-25T01:30:00", "2026-10-24T23:30:00"),  # the hour before it ends
    ],
)
def test_a_time_without_offset_is_read_as_italian_local_time(local, utc):
    assert stamp(local) == dt.datetime.fromisoformat(utc).replace(tzinfo=dt.UTC)


@pytest.mark.parametrize("value", ["2026-07-15T10:00:00Z", "2026-07-15T10:00:00+00:00"])
def test_a_time_with_an_offset_keeps_it(value):
    assert stamp(value) == dt.datetime(2026, 7, 15, 10, tzinfo=dt.UTC)


def test_a_missing_time_is_none():
    assert _datetime(etree.fromstring("<receipt/>"), "paymentDateTime") is None
