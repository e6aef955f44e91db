"""SQL helpers for reconciliation's set-based statements."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session


def among(session: Session, column: Any, values: Iterable[Any]) -> sa.ColumnElement[bool]:
    """``column IN values``: on PostgreSQL one array parameter (``= ANY``), not one
    placeholder per value (a batch names thousands)."""
    values = list(values)
    if session.get_bind().dialect.name == "postgresql":
        return column == sa.any_(sa.bindparam(None, values, type_=sa.ARRAY(column.type)))
    return column.in_(values)
