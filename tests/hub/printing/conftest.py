"""Notices built from transient models (no database): an Ente with a postal account, a single
payment and an instalment plan."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest

from hub.models import DebtPosition, Ente, PaymentOption
from tests.conftest import shared_path

DUE = dt.date(2026, 12, 31)


def vectors(name: str) -> list[dict[str, str]]:
    path: Path = shared_path("peer-material", "vectors", name)
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def ente(*, postal: bool = True) -> Ente:
    return Ente(
        fiscal_code="00085240950",
        name="Comune di Zerfaliu",
        office="Ufficio Tributi",
        iban="IT60X0542811101000000123456",
        postal_iban="IT57N0760103200000016302093" if postal else None,
        cbill_code="A0EDT",
        segregation_code="00",
    )


def option(
    number: str, cents: int, *, n: int | None = None, count: int | None = None, due: dt.date = DUE
) -> PaymentOption:
    return PaymentOption(
        notice_number=number,
        iuv=number[1:],
        amount_cents=cents,
        due_date=due,
        instalment_number=n,
        instalment_count=count,
        status="payable",
    )


def position(
    *options: PaymentOption, description: str = "TARI 2026 - tassa rifiuti"
) -> DebtPosition:
    return DebtPosition(
        iupd="IUPD-1",
        debtor_type="F",
        debtor_fiscal_code="BSCMTT83A12L719R",
        debtor_name="Matteo Bosca",
        debtor_street="Via Roma",
        debtor_civic_number="1",
        debtor_postal_code="09070",
        debtor_city="Zerfaliu",
        debtor_province="OR",
        description=description,
        options=list(options),
    )


@pytest.fixture
def single():
    return ente(), position(option("300715700000000032", 12_345))


@pytest.fixture
def plan():
    return ente(), position(
        option("300715700000000032", 30_000),
        option("300715700000000133", 10_000, n=1, count=3, due=dt.date(2026, 10, 31)),
        option("300715700000000234", 10_000, n=2, count=3, due=dt.date(2026, 11, 30)),
        option("300715700000000335", 10_000, n=3, count=3, due=dt.date(2026, 12, 31)),
    )
