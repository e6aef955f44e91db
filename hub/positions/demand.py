"""paDemandPaymentNotice: a payer asks (through a PSP) to pay a spontaneous service.

The Node forwards the service code and service-specific data; we create and publish a
one-option position for a service the Ente configured as spontaneous and return its option.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub import clock
from hub.errors import DomainError
from hub.models import Ente, PaymentOption, PaymentService, ServiceKind
from hub.positions.inputs import DebtPositionInput, OptionInput, TransferInput
from hub.positions.writer import create_position
from hub.values import identifiers


class ServiceNotAvailable(DomainError):
    code = "service_not_available"


@dataclass
class DemandIn:
    """The service-specific data of a demand (decoded from datiSpecificiServizioRequest)."""

    amount: str
    debtor_fiscal_code: str
    debtor_name: str
    debtor_type: str = "F"
    description: str | None = None

    def problem(self) -> str | None:
        """What is wrong with the data, in words, or None. Amounts are pagoPA's ``stAmount``
        (digits, a point, two decimals: ``1e3`` or ``10`` are refused), the debtor's code a
        valid fiscal code or VAT number, texts within the notice's limits."""
        if not _AMOUNT.fullmatch(self.amount):
            return "amount must be digits with two decimals, e.g. 25.00"
        if self.debtor_type not in ("F", "G"):
            return "debtorType must be F (natural person) or G (legal person)"
        code_problem = identifiers.debtor_code_problem(
            self.debtor_type, self.debtor_fiscal_code.upper()
        )
        if code_problem:
            return f"debtorFiscalCode: {code_problem}"
        for name, value, limit in (
            ("debtorName", self.debtor_name, 70),
            ("description", self.description or "x", 140),
        ):
            if not value or len(value) > limit:
                return f"{name} must be 1 to {limit} characters"
            if _CONTROL.search(value):
                return f"{name} contains control characters"
        return None


_AMOUNT = re.compile(r"(0|[1-9]\d{0,8})\.\d{2}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def demand_notice(
    session: Session,
    ente: Ente,
    service_code: str,
    data: DemandIn,
    *,
    today: dt.date | None = None,
    cause: str = "soap:paDemandPaymentNotice",
) -> PaymentOption:
    """Create and publish a position for ``data`` on the Ente's spontaneous service
    ``service_code``; return its payment option. Raises ServiceNotAvailable when the Ente has
    no such active spontaneous service, InvalidPosition for invalid data (nothing written)."""
    today = today or clock.today()
    service = session.scalars(
        sa.select(PaymentService).where(
            PaymentService.ente_id == ente.id, PaymentService.code == service_code
        )
    ).one_or_none()
    if service is None or not service.active or service.kind != ServiceKind.SPONTANEOUS:
        raise ServiceNotAvailable(f"service {service_code} does not accept payment requests")
    iban = service.default_iban or ente.iban
    description = (data.description or service.label)[:140]
    position = create_position(
        session,
        ente,
        DebtPositionInput.of(
            iupd=f"DEMAND-{uuid.uuid4().hex}",
            debtor_type=data.debtor_type,
            debtor_fiscal_code=data.debtor_fiscal_code,
            debtor_name=data.debtor_name,
            description=description,
            options=[
                OptionInput.of(
                    amount=data.amount,
                    due_date=today + dt.timedelta(days=30),
                    description=description,
                    transfers=[
                        TransferInput.of(
                            amount=data.amount,
                            remittance_information=description,
                            category=service.taxonomy,
                            iban=iban,
                            postal_iban=None if iban else ente.postal_iban,
                        )
                    ],
                )
            ],
        ),
        service_id=service.id,
        publish=True,
        cause=cause,
    )
    return position.options[0]
