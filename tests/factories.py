"""Factories: tenants and positions built through the real services."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub import clock, payments
from hub.models import DebtPosition, Ente, Intermediary, PaymentOption, Station
from hub.positions.inputs import DebtPositionInput, OptionInput, TransferInput
from hub.positions.writer import create_position
from nodesim.reporting import Entry, Flow, flow_xml

IBAN = "IT60X0542811101000000123456"
_seq = itertools.count(1)


def make_ente(
    session: Session, fiscal_code: str | None = None, *, segregation_code: str | None = None
) -> Ente:
    """An Ente on a station of its own; without ``segregation_code`` the lowest free one
    ("01" for the first Ente: no two Enti share one)."""
    n = next(_seq)
    if segregation_code is None:
        taken = set(session.scalars(sa.select(Ente.segregation_code)))
        segregation_code = next(f"{c:02d}" for c in range(1, 100) if f"{c:02d}" not in taken)
    broker = Intermediary(broker_code=f"9{n:010d}", name="Broker")
    station = Station(station_code=f"9{n:010d}_01", intermediary=broker)
    ente = Ente(
        fiscal_code=fiscal_code or f"8{n:010d}",
        name=f"Ente {n}",
        iban=IBAN,
        segregation_code=segregation_code,
    )
    station.enti.append(ente)
    session.add_all([broker, station, ente])
    session.flush()
    return ente


def make_position(
    session: Session,
    ente: Ente,
    *,
    amount: str = "30.00",
    publish: bool = True,
    retention_date: dt.date | None = None,
    iupd: str | None = None,
) -> DebtPosition:
    return create_position(
        session,
        ente,
        DebtPositionInput.of(
            iupd=iupd or f"IUPD-{next(_seq)}",
            debtor_type="F",
            debtor_fiscal_code="RSSMRA80A01H501U",
            debtor_name="Mario Rossi",
            description="Test position",
            options=[
                OptionInput.of(
                    amount=amount,
                    due_date=clock.today() + dt.timedelta(days=30),
                    retention_date=retention_date,
                    transfers=[
                        TransferInput.of(
                            amount=amount,
                            remittance_information="Test",
                            category="9/0101108TS/",
                            iban=IBAN,
                        )
                    ],
                )
            ],
        ),
        publish=publish,
        cause="test",
    )


def make_plan_position(
    session: Session,
    ente: Ente,
    *,
    full: str = "300.00",
    instalments: tuple[str, ...] = ("100.00", "100.00", "100.00"),
    publish: bool = True,
    retention_date: dt.date | None = None,
) -> DebtPosition:
    """A debt payable in full (options[0]) or by a plan of instalments (options[1:])."""

    def option(amount: str, n: int | None = None) -> OptionInput:
        return OptionInput.of(
            amount=amount,
            due_date=clock.today() + dt.timedelta(days=30 * (n or 1)),
            retention_date=retention_date,
            instalment_number=n,
            instalment_count=len(instalments) if n else None,
            transfers=[
                TransferInput.of(
                    amount=amount, remittance_information="Test", category="9/0101108TS/", iban=IBAN
                )
            ],
        )

    return create_position(
        session,
        ente,
        DebtPositionInput.of(
            iupd=f"PLAN-{next(_seq)}",
            debtor_type="F",
            debtor_fiscal_code="RSSMRA80A01H501U",
            debtor_name="Mario Rossi",
            description="Test plan",
            options=[option(full), *(option(a, i + 1) for i, a in enumerate(instalments))],
        ),
        publish=publish,
        cause="test",
    )


def make_receipt(
    option_or_notice,
    ec_fiscal_code: str,
    *,
    receipt_id: str = "r-1",
    amount_cents: int | None = None,
    standin: bool = False,
):
    """An unsaved Receipt for an option (or a bare notice number) as paSendRTV2 would bring."""
    from hub.models import Receipt

    notice = getattr(option_or_notice, "notice_number", option_or_notice)
    iuv = getattr(option_or_notice, "iuv", notice[1:])
    cents = (
        amount_cents
        if amount_cents is not None
        else getattr(option_or_notice, "amount_cents", 3000)
    )
    return Receipt(
        ec_fiscal_code=ec_fiscal_code,
        receipt_id=receipt_id,
        primitive_version=2,
        notice_number=notice,
        creditor_reference_id=iuv,
        payment_amount_cents=cents,
        id_psp="BCITITMM",
        fee_cents=100,
        standin=standin,
        raw_xml="<paSendRTV2Request/>",
    )


# --- reporting flows (FdR), built with the simulator's own writer ---------------------------

FLOW_DAY = dt.date(2026, 11, 27)
FLOW_CREATED = dt.datetime(2026, 11, 28, 1, 0, tzinfo=dt.UTC)


def paid_option(db, ente, amount: str = "30.00") -> tuple[PaymentOption, str]:
    """A published option paid through hub.payments.store_receipt; (option, receiptId)."""
    option = make_position(db, ente, amount=amount).options[0]
    receipt_id = f"rcpt-{next(_seq)}"
    payments.store_receipt(db, make_receipt(option, ente.fiscal_code, receipt_id=receipt_id))
    return option, receipt_id


def entry(
    option: PaymentOption,
    receipt_id: str,
    amount: str | None = None,
    *,
    code: str = "0",
    index: int = 1,
) -> Entry:
    cents = option.amount_cents if amount is None else int(Decimal(amount) * 100)
    return Entry(option.iuv, receipt_id, index, Decimal(cents) / 100, code, FLOW_DAY)


def flow_bytes(
    ente,
    entries: list[Entry],
    *,
    flow_id: str = "2026-11-27BCITITMM-0001",
    created_at: dt.datetime = FLOW_CREATED,
    inconsistent: bool = False,
) -> bytes:
    return flow_xml(
        Flow(
            id=flow_id,
            day=FLOW_DAY,
            created_at=created_at,
            psp_id="BCITITMM",
            psp_name="Banca di prova",
            psp_bic="BCITITMM",
            ec=ente.fiscal_code,
            ec_name=ente.name,
            iban="IT60X0542811101000000123456",
            settlement_id="RIV20261127BCITITMM0001",
            entries=entries,
            inconsistent=inconsistent,
        )
    )
