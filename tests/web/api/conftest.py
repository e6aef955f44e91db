"""API fixtures: the WSGI app on PostgreSQL, two Enti with keys, seeded through committed
sessions (committed_factory empties the tables before and after each test)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from webtest import TestApp

from hub import clock
from hub.models import PaymentService, ServiceKind
from hub.tenants import api_keys
from payhub.app import configure
from tests.factories import IBAN, make_ente

DUE = (clock.today() + dt.timedelta(days=30)).isoformat()


@dataclass
class World:
    app: TestApp
    factory: object
    ente: str  # fiscal code of Ente A
    other: str  # fiscal code of Ente B
    key: str  # scoped to A
    other_key: str  # scoped to B
    broker_key: str  # scoped to A and B (intermediary)

    def auth(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.key}"}

    def url(self, tail: str = "", ente: str | None = None) -> str:
        return f"/api/v1/enti/{ente or self.ente}/debt-positions{tail}"


@pytest.fixture(scope="session")
def api_app(pg_url) -> TestApp:
    return TestApp(
        configure(
            {"sqlalchemy.url": pg_url, "payhub.broker": "stub", "payhub.embedded_worker": "false"}
        ).make_wsgi_app()
    )


@pytest.fixture
def world(api_app, committed_factory) -> World:
    with committed_factory.begin() as session:
        a = make_ente(session, "77777777777")
        b = make_ente(session, "00112233445", segregation_code="02")
        session.add(
            PaymentService(
                ente_id=a.id,
                code="MENSA",
                label="Mensa",
                taxonomy="9/0201109SE/",
                kind=ServiceKind.PRECOMPUTED,
            )
        )
        key = api_keys.create_key(session, "gestionale A", [a.fiscal_code]).secret
        other_key = api_keys.create_key(session, "gestionale B", [b.fiscal_code]).secret
        broker_key = api_keys.create_key(
            session, "intermediario", [a.fiscal_code, b.fiscal_code]
        ).secret
    return World(
        api_app, committed_factory, a.fiscal_code, b.fiscal_code, key, other_key, broker_key
    )


def transfer(amount: str = "30.00", **extra) -> dict:
    return {
        "amount": amount,
        "remittanceInformation": "TARI 2026",
        "category": "9/0101101IM/",
        "iban": IBAN,
        **extra,
    }


def position_body(iupd: str = "IUPD-1", **extra) -> dict:
    return {
        "iupd": iupd,
        "debtorType": "F",
        "debtorFiscalCode": "RSSMRA80A01H501U",
        "debtorName": "Mario Rossi",
        "description": "TARI 2026",
        "options": [{"amount": "30.00", "dueDate": DUE, "transfers": [transfer()]}],
        **extra,
    }
