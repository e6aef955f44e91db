"""Demo data: pagoPA's test identifiers, positions in several states, idempotent."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.models import Anomaly, Ente, PaymentOption, Station
from hub.seed import DEMO_EC, DEMO_STATION, SANP_NOTICE, seed_demo


def _check(session: Session) -> None:
    assert seed_demo(session)["created"] > 0
    station = session.scalar(sa.select(Station).where(Station.station_code == DEMO_STATION))
    assert {e.fiscal_code for e in station.enti} >= {DEMO_EC}
    sanp = session.scalar(
        sa.select(PaymentOption).where(PaymentOption.notice_number == SANP_NOTICE)
    )
    assert sanp.amount_cents == 3000 and [t.amount_cents for t in sanp.transfers] == [2000, 1000]
    statuses = set(session.scalars(sa.select(PaymentOption.status)))
    assert {"payable", "paid", "cancelled", "draft"} <= statuses
    assert session.scalar(sa.select(sa.func.count()).select_from(Anomaly)) == 0
    assert seed_demo(session) == {"created": 0}
    assert session.scalar(sa.select(sa.func.count()).select_from(Ente)) == 2


@pytest.mark.pg
def test_seed_demo_on_postgresql(db):
    _check(db)


def test_seed_demo_on_sqlite(sqlite_engine):
    with Session(sqlite_engine) as session, session.begin():
        _check(session)
