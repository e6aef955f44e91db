"""Demo data: pagoPA's test identifiers, positions in several states, idempotent; its tenants
and accounts made through the administration's service layer, every change audited as
``seed``."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.models import Anomaly, AuditEvent, Ente, PaymentOption, Station
from hub.seed import (
    DEMO_BROKER,
    DEMO_EC,
    DEMO_OPERATOR,
    DEMO_STATION,
    DEMO_SUPPORT,
    SANP_NOTICE,
    SECOND_EC,
    seed_demo,
)


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
    events = _audited(session)
    assert seed_demo(session) == {"created": 0}
    assert session.scalar(sa.select(sa.func.count()).select_from(Ente)) == 2
    assert _audited(session) == events  # the second run changed nothing, recorded nothing


def _audited(session: Session) -> list[tuple[str, str, str | None]]:
    """The demo's changes are audited, each by ``seed``, with the fields before and after:
    the intermediary, station, both Enti with their accounts and services, both accounts."""
    events = session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)).all()
    assert events and {e.actor for e in events} == {"seed"}
    assert all(set(e.detail) >= {"before", "after"} for e in events)
    targets = {e.target for e in events}
    assert {
        f"intermediary:{DEMO_BROKER}",
        f"station:{DEMO_STATION}",
        f"ente:{DEMO_EC}",
        f"ente:{SECOND_EC}",
        f"service:{DEMO_EC}/MENSA",
        f"operator:{DEMO_OPERATOR}",
        f"operator:{DEMO_SUPPORT}",
    } <= targets
    assert {e.action for e in events} >= {
        "admin.intermediary.create",
        "admin.station.create",
        "admin.ente.create",
        "admin.iban.add",
        "admin.service.create",
        "operator.create",
    }
    return [(e.actor, e.action, e.target) for e in events]


@pytest.mark.pg
def test_seed_demo_on_postgresql(db):
    _check(db)


def test_seed_demo_on_sqlite(sqlite_engine):
    with Session(sqlite_engine) as session, session.begin():
        _check(session)
