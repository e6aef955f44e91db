"""A business day of payments for the daily-file tests: an Ente with two services, receipts
with their own XML (V1 and V2), one payment with no service, and receipts that do not belong
(another day, a KO outcome, another Ente)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from itertools import count

from hub.clock import ROME
from hub.models import Ente, PaymentService, Receipt, ServiceKind
from tests.factories import make_ente, make_position

DAY = dt.date(2026, 12, 5)
_seq = count(1)


def at(hour: int, minute: int = 0, day: dt.date = DAY) -> dt.datetime:
    """A moment of ``day`` in Rome, as UTC."""
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=ROME).astimezone(dt.UTC)


def receipt_xml(n: int, iuv: str, cents: int, version: int) -> str:
    tag = "paSendRTV2Req" if version == 2 else "paSendRTReq"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<pafn:{tag} xmlns:pafn="http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd">'
        f"<receipt><receiptId>rcpt-{n}</receiptId><creditorReferenceId>{iuv}</creditorReferenceId>"
        f"<paymentAmount>{cents / 100:.2f}</paymentAmount>"
        "<description>Mensa scolastica — città di Forlì</description></receipt>"
        f"</pafn:{tag}>"
    )


def add_receipt(
    db,
    ente: Ente,
    option=None,
    *,
    paid_at: dt.datetime,
    cents: int = 3000,
    version: int = 2,
    outcome: str = "OK",
    payer: str | None = "VRDGPP80A01H501X",
    received_at: dt.datetime | None = None,
) -> Receipt:
    n = next(_seq)
    iuv = option.iuv if option is not None else f"99{n:015d}"
    receipt = Receipt(
        ec_fiscal_code=ente.fiscal_code,
        receipt_id=f"rcpt-{n}",
        ente_id=ente.id,
        option_id=option.id if option is not None else None,
        primitive_version=version,
        notice_number=option.notice_number if option is not None else f"3{iuv}",
        creditor_reference_id=iuv,
        payment_amount_cents=cents,
        description="Mensa scolastica | città di Forlì",
        outcome=outcome,
        debtor_fiscal_code="RSSMRA80A01H501U",
        payer_fiscal_code=payer,
        id_psp="BCITITMM",
        psp_company_name="Banca =Test",
        payment_method="CP",
        fee_cents=100,
        payment_date_time=paid_at,
        raw_xml=receipt_xml(n, iuv, cents, version),
        received_at=received_at or paid_at + dt.timedelta(seconds=30),
    )
    db.add(receipt)
    db.flush()
    return receipt


@dataclass
class Day:
    ente: Ente
    by_service: dict[str, list[Receipt]] = field(default_factory=dict)
    others: list[Receipt] = field(default_factory=list)


def service(db, ente: Ente, code: str) -> PaymentService:
    svc = PaymentService(
        ente_id=ente.id,
        code=code,
        label=code,
        taxonomy="9/0101108TS/",
        kind=ServiceKind.PRECOMPUTED,
    )
    db.add(svc)
    db.flush()
    return svc


def paid_option(db, ente: Ente, svc: PaymentService | None, amount: str):
    position = make_position(db, ente, amount=amount)
    position.service_id = svc.id if svc is not None else None
    db.flush()
    return position.options[0]


def a_day(db, *, generic: bool = True) -> Day:
    """MENSA: 3 payments (one a V1 receipt, one just before midnight), TARI: 2; one payment of
    a position without service (generic); plus a KO receipt, one of the next day and one of
    another Ente, none of which belongs to the Ente's files of DAY."""
    ente = make_ente(db)
    mensa, tari = service(db, ente, "MENSA"), service(db, ente, "TARI")
    day = Day(ente)
    day.by_service["MENSA"] = [
        add_receipt(db, ente, paid_option(db, ente, mensa, "12.50"), paid_at=at(9), cents=1250),
        add_receipt(
            db, ente, paid_option(db, ente, mensa, "7.00"), paid_at=at(0, 5), cents=700, version=1
        ),
        add_receipt(
            db, ente, paid_option(db, ente, mensa, "30.00"), paid_at=at(23, 59), payer=None
        ),
    ]
    day.by_service["TARI"] = [
        add_receipt(db, ente, paid_option(db, ente, tari, "150.00"), paid_at=at(11), cents=15000),
        add_receipt(db, ente, paid_option(db, ente, tari, "99.99"), paid_at=at(15), cents=9999),
    ]
    if generic:
        day.by_service["GENERICO"] = [
            add_receipt(db, ente, paid_option(db, ente, None, "5.00"), paid_at=at(10), cents=500)
        ]
    day.others = [
        add_receipt(db, ente, paid_option(db, ente, mensa, "1.00"), paid_at=at(12), outcome="KO"),
        add_receipt(
            db, ente, paid_option(db, ente, mensa, "2.00"), paid_at=at(0, 1, DAY + dt.timedelta(1))
        ),
    ]
    other = make_ente(db)
    day.others.append(add_receipt(db, other, None, paid_at=at(12)))
    return day


def went_live(db, ente: Ente, directory) -> tuple:
    """The day ``ente`` went live: a test payment while in test (its test file, v1), then
    a real one once in production (the real file, v2). Returns (test file, real file)."""
    from hub.dailyfile import files

    ente.production = False
    trial = add_receipt(db, ente, None, paid_at=at(9), cents=500)
    trial.test = True
    db.flush()
    test_file, _ = files.produce(db, ente, "GENERICO", DAY, directory, test=True)
    ente.production = True
    add_receipt(db, ente, None, paid_at=at(15), cents=4200)
    real_file, _ = files.produce(db, ente, "GENERICO", DAY, directory)
    return test_file, real_file
