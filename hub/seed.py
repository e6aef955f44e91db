"""Demo data: pagoPA's own test identifiers, so official examples replay against ``make demo``.

Intermediary/broker 77777777777, station 77777777777_01, Ente 77777777777 (pagoPA's test EC)
and a second Ente, a few services each, positions in several states, and two dashboard
accounts (an operator of the demo Ente and a support account, with the passwords below).
Created through the administration's service layer (hub.admin), as an intermediary would
(audited as ``seed``). Idempotent: running it twice changes nothing.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub import clock, payments
from hub.admin import inputs as i
from hub.admin import service as svc
from hub.models import Ente, PaymentService, Receipt
from hub.positions.inputs import DebtPositionInput, OptionInput, TransferInput
from hub.positions.writer import create_position

DEMO_BROKER = "77777777777"
DEMO_STATION = "77777777777_01"
DEMO_EC = "77777777777"
SECOND_EC = "00112233445"
DEMO_IBAN = "IT60X0542811101000000123456"
DEMO_POSTAL_IBAN = "IT10N0760101600000000123456"
SECOND_IBAN = "IT36I0306909606100000063416"
SANP_NOTICE = "311111111112222222"  # the official SANP examples' notice (check digits wrong)
# dashboard accounts of the demo only (README, "Operator dashboard and support views")
DEMO_OPERATOR, DEMO_OPERATOR_PASSWORD = "demo-operator", "demo-operator-pw"
DEMO_SUPPORT, DEMO_SUPPORT_PASSWORD = "demo-support", "demo-support-pw"
SEED = svc.Actor("seed")  # audited as such


def seed_demo(session: Session, today: dt.date | None = None) -> dict[str, int]:
    """Create the demo tenants and positions unless they exist; return what was created."""
    today = today or clock.today()
    if session.scalar(sa.select(Ente).where(Ente.fiscal_code == DEMO_EC)) is not None:
        return {"created": 0}
    # the tenants go through the administration's service layer, as an intermediary's would
    svc.create_intermediary(
        session,
        SEED,
        i.IntermediaryInput(broker_code=DEMO_BROKER, name="Intermediario tecnologico demo"),
    )
    svc.create_station(
        session,
        SEED,
        i.StationInput(station_code=DEMO_STATION, broker_code=DEMO_BROKER, primitive_version=2),
    )
    ec = svc.create_ente(
        session,
        SEED,
        i.EnteInput(
            fiscal_code=DEMO_EC,
            name="Comune di Demo",
            office="Servizio Tributi",
            referente_name="Referente pagoPA",
            referente_email="pagopa@comune.demo.it",
            technical_contact_name="Ufficio CED",
            technical_contact_email="ced@comune.demo.it",
            iban=DEMO_IBAN,
            postal_iban=DEMO_POSTAL_IBAN,
            segregation_code="01",
            cbill_code="A0EDT",
            stations=[DEMO_STATION],
            services=[
                i.ServiceInput(
                    code="MENSA",
                    label="Refezione scolastica",
                    taxonomy="9/0201109SE/",
                    iban=DEMO_IBAN,
                ),
                i.ServiceInput(
                    code="CDS",
                    label="Sanzioni codice della strada",
                    taxonomy="9/0301105TS/",
                    iban=DEMO_IBAN,
                ),
                i.ServiceInput(
                    code="SANZI",
                    label="Sanzioni amministrative",
                    taxonomy="9/0301104TS/",
                    iban=DEMO_IBAN,
                ),
                i.ServiceInput(
                    code="OSAP1",
                    label="Occupazione suolo pubblico",
                    taxonomy="9/0101106TS/",
                    iban=DEMO_IBAN,
                    kind="spontaneous",
                    form=i.parse(
                        i.FormDefinition,
                        {
                            "fields": [{"name": "address", "label": "Indirizzo", "required": True}],
                            "amount": "free",
                        },
                    ),
                ),
            ],
        ),
    )
    second = svc.create_ente(
        session,
        SEED,
        i.EnteInput(
            fiscal_code=SECOND_EC,
            name="Unione dei Comuni della Bassa",
            office="Ragioneria",
            iban=SECOND_IBAN,
            segregation_code="02",
            stations=[DEMO_STATION],
            services=[
                i.ServiceInput(
                    code="TARI", label="Tassa rifiuti", taxonomy="9/0101101IM/", iban=SECOND_IBAN
                ),
                i.ServiceInput(
                    code="GENER",
                    label="Pagamento generico",
                    taxonomy="9/0101108TS/",
                    iban=SECOND_IBAN,
                    kind="spontaneous",
                    form=i.FormDefinition(),
                ),
            ],
        ),
    )
    session.flush()
    by_code = {s.code: s for s in session.scalars(sa.select(PaymentService))}
    services = [by_code[c] for c in ("MENSA", "CDS", "SANZI", "OSAP1", "TARI", "GENER")]

    due = today + dt.timedelta(days=30)
    sanp = create_position(
        session,
        ec,
        DebtPositionInput.of(
            iupd="SANP-EXAMPLE",
            debtor_type="F",
            debtor_fiscal_code="JHNDOE00A01F205N",
            debtor_name="John Doe",
            description="Pagamento di test SANP",
            options=[
                OptionInput.of(
                    amount="30.00",
                    due_date=due,
                    notice_number=SANP_NOTICE,
                    description="Pagamento di test",
                    transfers=[
                        TransferInput.of(
                            amount="20.00",
                            remittance_information="Rata 1",
                            category="9/0101108TS/",
                            iban=DEMO_IBAN,
                        ),
                        TransferInput.of(
                            amount="10.00",
                            remittance_information="Rata 2",
                            category="9/0101108TS/",
                            iban=DEMO_IBAN,
                            beneficiary_fiscal_code=DEMO_EC,
                        ),
                    ],
                )
            ],
        ),
        publish=True,
        cause="seed",
        verify_check_digits=False,
    )
    created = [sanp]
    debtors = [
        ("RSSMRA80A01H501U", "Mario Rossi"),
        ("VRDLGU75B12F205X", "Luigi Verdi"),
        ("BNCNNA90C41L219P", "Anna Bianchi"),
    ]
    for n, (cf, name) in enumerate(debtors, 1):
        created.append(
            create_position(
                session,
                ec,
                DebtPositionInput.of(
                    iupd=f"MENSA-2026-{n:04d}",
                    debtor_type="F",
                    debtor_fiscal_code=cf,
                    debtor_name=name,
                    description="Refezione scolastica novembre",
                    options=[
                        OptionInput.of(
                            amount=f"{40 + n}.50",
                            due_date=due,
                            transfers=[
                                TransferInput.of(
                                    amount=f"{40 + n}.50",
                                    remittance_information="Mensa novembre",
                                    category="9/0201109SE/",
                                    iban=DEMO_IBAN,
                                )
                            ],
                        )
                    ],
                ),
                service_id=services[0].id,
                publish=True,
                cause="seed",
            )
        )
    plan = create_position(
        session,
        second,
        DebtPositionInput.of(
            iupd="TARI-2026-0001",
            debtor_type="G",
            debtor_fiscal_code="01234567890",
            debtor_name="Ferramenta Bassa srl",
            description="TARI 2026",
            options=[
                OptionInput.of(
                    amount="300.00",
                    due_date=due,
                    transfers=[
                        TransferInput.of(
                            amount="300.00",
                            remittance_information="TARI 2026 unica soluzione",
                            category="9/0101101IM/",
                            iban=SECOND_IBAN,
                        )
                    ],
                ),
                *[
                    OptionInput.of(
                        amount="100.00",
                        due_date=due + dt.timedelta(days=60 * i),
                        instalment_number=i + 1,
                        instalment_count=3,
                        transfers=[
                            TransferInput.of(
                                amount="100.00",
                                remittance_information=f"TARI 2026 rata {i + 1}/3",
                                category="9/0101101IM/",
                                iban=SECOND_IBAN,
                            )
                        ],
                    )
                    for i in range(3)
                ],
            ],
        ),
        service_id=services[4].id,
        publish=True,
        cause="seed",
    )
    created.append(plan)
    created.append(
        create_position(
            session,
            ec,
            DebtPositionInput.of(
                iupd="CDS-2026-0042",
                debtor_type="F",
                debtor_fiscal_code="RSSMRA80A01H501U",
                debtor_name="Mario Rossi",
                description="Verbale 42/2026",
                options=[
                    OptionInput.of(
                        amount="87.00",
                        due_date=due,
                        transfers=[
                            TransferInput.of(
                                amount="87.00",
                                remittance_information="Verbale 42/2026",
                                category="9/0301105TS/",
                                iban=DEMO_IBAN,
                            )
                        ],
                    )
                ],
            ),
            service_id=services[1].id,
            cause="seed",
        )
    )  # left as draft
    session.flush()

    # a paid one (through the real services, so its history is complete) and a cancelled one
    paid_option = created[1].options[0]
    payments.activate(
        session,
        ec,
        paid_option.notice_number,
        requested_cents=paid_option.amount_cents,
        primitive="paGetPaymentV2",
        cause="seed",
    )
    payments.store_receipt(
        session,
        Receipt(
            ec_fiscal_code=DEMO_EC,
            receipt_id="seed-receipt-0001",
            primitive_version=2,
            notice_number=paid_option.notice_number,
            creditor_reference_id=paid_option.iuv,
            payment_amount_cents=paid_option.amount_cents,
            description="Mensa novembre",
            company_name=ec.name,
            id_psp="BCITITMM",
            psp_company_name="Banca Demo",
            id_channel="BCITITMM_01",
            payment_method="creditCard",
            fee_cents=150,
            standin=False,
            raw_xml="<seed/>",
        ),
    )
    cancelled = payments.lock_option_by_id(session, created[2].options[0].id)
    payments.apply_event(session, cancelled, "cancel", cause="seed")
    svc.create_operator(
        session,
        SEED,
        i.OperatorInput(
            username=DEMO_OPERATOR, password=DEMO_OPERATOR_PASSWORD, role="operator", enti=[DEMO_EC]
        ),
    )
    svc.create_operator(
        session,
        SEED,
        i.OperatorInput(username=DEMO_SUPPORT, password=DEMO_SUPPORT_PASSWORD, role="support"),
    )
    return {"created": len(created)}
