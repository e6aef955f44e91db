"""What the API's lists share: opaque keyset cursors, day ranges and one page at a time.

A cursor is ``<kind><sort key>.<row id>`` in base64url: the kind ties it to its list (a cursor
of one list is refused by another), the sort key and row id are those of the page's last row.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Any

import sqlalchemy as sa

from hub import clock
from web.api.problems import Problem


def cursor(kind: str, key: int, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}{key}.{pk}".encode()).decode().rstrip("=")


def after(kind: str, value: str, *, key_digits: int = 18) -> tuple[int, int]:
    """The (sort key, row id) of a cursor of this kind; a 400 problem for anything else."""
    try:
        text = base64.urlsafe_b64decode(value.encode() + b"==").decode()
        key, sep, pk = text.removeprefix(kind).partition(".")
        if (
            not text.startswith(kind)
            or not sep
            or not key.isdigit()
            or not pk.isdigit()
            or len(key) > key_digits
            or len(pk) > 9  # row ids are PostgreSQL integers
        ):
            raise ValueError(value)
        return int(key), int(pk)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad_cursor() from None


def bad_cursor() -> Problem:
    return Problem(400, "invalid_cursor", "not a cursor this API gave", field="cursor")


def check_range(q: Any, start: str = "from_", end: str = "to", field: str = "from") -> None:
    """``from`` after ``to`` is well-formed but impossible: 422 (``start``/``end`` name the
    query model's attributes, ``field`` the parameter named in the problem)."""
    first, last = getattr(q, start), getattr(q, end)
    if first and last and first > last:
        raise Problem(422, "invalid_range", f"{field} is after {field_end(field)}", field=field)


def field_end(field: str) -> str:
    """The parameter that closes ``field``'s range: from -> to, dueDateFrom -> dueDateTo."""
    return "to" if field == "from" else field.removesuffix("From") + "To"


def day_start(day: dt.date) -> dt.datetime:
    """The first instant of ``day`` in Italy: date filters are Italian calendar days (the
    calendar's ends, 0001-01-01 and 9999-12-31, stand for "no bound")."""
    try:
        return clock.day_start(day)
    except OverflowError:
        edge = dt.datetime.min if day.year == 1 else dt.datetime.max
        return edge.replace(tzinfo=dt.UTC)


def page(session: Any, query: sa.Select[Any], limit: int) -> tuple[list[Any], bool]:
    """Up to ``limit`` rows of ``query``, and whether more follow."""
    rows = list(session.execute(query.limit(limit + 1)).all())
    return rows[:limit], len(rows) > limit
