"""Notice data: what a payment notice prints, taken from the Ente, the position and an option.

A ``Notice`` is a plain frozen value (no ORM object), so it can be rendered after the session
closed and compared in tests. A ``NoticeDocument`` is what one PDF shows: one notice for a single
payment, or the pay-in-full option (if any) followed by each instalment.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from hub.printing.codes import datamatrix_payload, postal_account_number, qr_payload
from hub.values.money import from_cents
from workflows.payment import OptionStatus

if TYPE_CHECKING:
    from hub.models import DebtPosition, Ente, PaymentOption


@dataclass(frozen=True)
class Creditor:
    fiscal_code: str
    name: str
    office: str | None
    cbill_code: str | None
    postal_account: str | None  # 12 digits; None = no postal slip


@dataclass(frozen=True)
class Debtor:
    fiscal_code: str
    name: str
    address: str | None


@dataclass(frozen=True)
class Notice:
    """One notice number as printed: a single payment, the pay-in-full option or instalment n."""

    notice_number: str
    amount_cents: int
    due_date: dt.date
    subject: str
    creditor: Creditor
    debtor: Debtor
    instalment_number: int | None = None
    instalment_count: int | None = None

    @property
    def amount(self) -> Decimal:
        return from_cents(self.amount_cents)

    @property
    def notice_number_grouped(self) -> str:
        """The notice number in groups of four as printed: ``3007 1570 0000 0000 32``."""
        return group_notice_number(self.notice_number)

    @property
    def qr_payload(self) -> str:
        return qr_payload(self.notice_number, self.creditor.fiscal_code, self.amount_cents)

    @property
    def datamatrix_payload(self) -> str | None:
        """The Poste Data Matrix payload, or None where the Ente has no postal account."""
        if self.creditor.postal_account is None:
            return None
        return datamatrix_payload(
            notice_number=self.notice_number,
            postal_account=self.creditor.postal_account,
            amount_cents=self.amount_cents,
            ec_fiscal_code=self.creditor.fiscal_code,
            debtor_fiscal_code=self.debtor.fiscal_code,
            debtor_name=self.debtor.name,
            subject=self.subject,
        )

    def as_json(self) -> dict[str, object]:
        """The notice data for the REST API (amounts as two-decimal strings)."""
        return {
            "noticeNumber": self.notice_number,
            "noticeNumberGrouped": self.notice_number_grouped,
            "amount": f"{self.amount:.2f}",
            "amountCents": self.amount_cents,
            "dueDate": self.due_date.isoformat(),
            "subject": self.subject,
            "instalment": (
                None
                if self.instalment_number is None
                else {"number": self.instalment_number, "count": self.instalment_count}
            ),
            "creditor": {
                "fiscalCode": self.creditor.fiscal_code,
                "name": self.creditor.name,
                "office": self.creditor.office,
                "cbillCode": self.creditor.cbill_code,
                "postalAccount": self.creditor.postal_account,
            },
            "debtor": {
                "fiscalCode": self.debtor.fiscal_code,
                "name": self.debtor.name,
                "address": self.debtor.address,
            },
            "qrPayload": self.qr_payload,
            "dataMatrixPayload": self.datamatrix_payload,
        }


@dataclass(frozen=True)
class NoticeDocument:
    """What one PDF shows: ``full`` (pay in full / single payment) and ``instalments``."""

    full: Notice | None
    instalments: tuple[Notice, ...]
    logo: bytes | None = None  # the Ente's logo (PNG or JPEG), printed in the header

    @property
    def notices(self) -> tuple[Notice, ...]:
        return ((self.full,) if self.full else ()) + self.instalments

    @property
    def first(self) -> Notice:
        return self.notices[0]


LOGO_MAX_BYTES = 256 * 1024
_LOGO_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")


def logo_problem(data: bytes) -> str | None:
    """Why ``data`` cannot be an Ente's logo, or None if it can (a PNG or JPEG up to 256 KiB
    that the PDF library reads)."""
    if len(data) > LOGO_MAX_BYTES:
        return f"the logo is {len(data)} bytes; at most {LOGO_MAX_BYTES}"
    if not data.startswith(_LOGO_MAGIC):
        return "the logo must be a PNG or JPEG image"
    try:
        import io

        from reportlab.lib.utils import ImageReader

        width, height = ImageReader(io.BytesIO(data)).getSize()
    except Exception:
        return "the logo image cannot be read"
    if width < 16 or height < 16:
        return "the logo must be at least 16×16 pixels"
    return None


def group_notice_number(number: str) -> str:
    return " ".join(number[i : i + 4] for i in range(0, len(number), 4))


def creditor_of(ente: Ente) -> Creditor:
    return Creditor(
        fiscal_code=ente.fiscal_code,
        name=ente.name,
        office=ente.office,
        cbill_code=ente.cbill_code,
        postal_account=postal_account_number(ente.postal_iban) if ente.postal_iban else None,
    )


def debtor_of(position: DebtPosition) -> Debtor:
    street = " ".join(p for p in (position.debtor_street, position.debtor_civic_number) if p)
    city = " ".join(
        p
        for p in (
            position.debtor_postal_code,
            position.debtor_city,
            f"({position.debtor_province})" if position.debtor_province else None,
        )
        if p
    )
    address = ", ".join(p for p in (street, city) if p) or None
    return Debtor(
        fiscal_code=position.debtor_fiscal_code, name=position.debtor_name, address=address
    )


def notice_of(
    ente: Ente,
    position: DebtPosition,
    option: PaymentOption,
    *,
    creditor: Creditor | None = None,
    debtor: Debtor | None = None,
) -> Notice:
    """The notice for one payment option of ``position`` (an Ente's DebtPosition)."""
    return Notice(
        notice_number=option.notice_number,
        amount_cents=option.amount_cents,
        due_date=option.due_date,
        subject=option.description or position.description,
        creditor=creditor or creditor_of(ente),
        debtor=debtor or debtor_of(position),
        instalment_number=option.instalment_number,
        instalment_count=option.instalment_count,
    )


def document_of(ente: Ente, position: DebtPosition) -> NoticeDocument:
    """The document for ``position``: its pay-in-full option (if any) and its instalments, as
    pagoPA's notice model prints a plan; cancelled options are left out."""
    creditor, debtor = creditor_of(ente), debtor_of(position)
    options = [o for o in position.options if o.status != OptionStatus.CANCELLED] or list(
        position.options
    )
    notices = [notice_of(ente, position, o, creditor=creditor, debtor=debtor) for o in options]
    full = next((n for n in notices if n.instalment_number is None), None)
    instalments = tuple(
        sorted(
            (n for n in notices if n.instalment_number is not None),
            key=lambda n: n.instalment_number or 0,
        )
    )
    return NoticeDocument(full=full, instalments=instalments, logo=ente.logo)
