"""Counting the SQL statements a piece of code runs (N+1 checks: a list page must run as many
statements for 300 rows as for 3)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy import event


@contextmanager
def counted() -> Iterator[list[str]]:
    """The statements every engine of this process runs inside the block."""
    seen: list[str] = []

    def count(_conn, _cursor, statement, _params, _context, _many) -> None:
        seen.append(statement)

    event.listen(sa.engine.Engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(sa.engine.Engine, "before_cursor_execute", count)
