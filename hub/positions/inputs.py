"""What a valid debt position is: the one input model (pydantic) of every writer of positions.

The REST API (create, replace, patch) validates its JSON bodies with these models, bulk loads
read each position (a CSV row group or a JSON array element) into ``DebtPositionInput``, and
paDemand, the checkout, the seed and the tests build them in Python with ``of`` (by field name).
The models check each field's shape (lengths, patterns, counts); the rules across fields (sums,
instalment plans, IBAN check digits, fiscal codes, notice numbers) are
``hub.positions.writer.validate``'s, applied by the writer itself.

Amounts are strings with exactly two decimals ("30.00"), never numbers: JSON numbers become
floats in most clients. Names are camelCase on the wire; unknown fields are refused.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from hub.errors import DomainError
from hub.values.errors_text import plain_message
from hub.values.text import text_problem

Amount = Annotated[
    str,
    Field(
        pattern=r"^(0|[1-9][0-9]{0,8})\.[0-9]{2}$",
        examples=["30.00"],
        description="Euro, two decimals",
    ),
]


def _plain_text(value: str) -> str:
    """Names, descriptions, remittance information: no control characters, no direction
    overrides (``hub.values.text.text_problem``); the error names the field."""
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


PlainText = AfterValidator(_plain_text)
Text140 = Annotated[str, Field(min_length=1, max_length=140), PlainText]
FiscalCode11 = Annotated[str, Field(pattern=r"^[0-9]{11}$")]
Iupd = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
NoticeNumber = Annotated[str, Field(pattern=r"^[0-9]{18}$")]
IbanStr = Annotated[str, Field(pattern=r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{1,30}$")]
DebtorCode = Annotated[str, Field(pattern=r"^[A-Z0-9]{11,16}$")]
Email = Annotated[str, Field(max_length=256, pattern=r"^[^@\s]+@[^@\s]+$")]
Street = Annotated[str, Field(max_length=70), PlainText]
City = Annotated[str, Field(max_length=35), PlainText]
PostalCode = Annotated[str, Field(max_length=16), PlainText]
TwoLetters = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
ServiceCode = Annotated[str, Field(min_length=1, max_length=35), PlainText]


class InvalidPosition(DomainError):
    """A position's input is not valid; ``field`` is the failing field's path
    (``options[0].transfers[1].iban``, Python names)."""

    code = "invalid_position"

    def __init__(self, message: str, *, field: str) -> None:
        # a sentence that already names the field (hub.values.errors_text) is not prefixed
        super().__init__(message if message.startswith(field) else f"{field}: {message}")
        self.field = field


def field_path(loc: tuple[Any, ...]) -> str:
    """A pydantic error location as a field path: ``options[0].transfers[1].iban``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class _In(BaseModel):
    """Strict: on the wire camelCase only, unknown fields refused, no type coercion."""

    model_config = ConfigDict(
        extra="forbid", strict=True, alias_generator=to_camel, populate_by_name=False
    )

    @classmethod
    def of(cls, **fields: Any) -> Self:
        """Build by Python field names (nested models or dicts), validated as a request body
        is; raises InvalidPosition naming the first failing field."""
        try:
            return cls.model_validate(fields, by_name=True, by_alias=False)
        except ValidationError as exc:
            error = exc.errors()[0]
            field = field_path(error["loc"]) or "body"
            raise InvalidPosition(plain_message(field, error), field=field) from None


class MetadataEntry(_In):
    key: Annotated[str, Field(min_length=1, max_length=140), PlainText]
    value: Annotated[str, Field(max_length=140), PlainText]


class TransferInput(_In):
    """A share of the option for one beneficiary: an IBAN, a postal IBAN or a revenue stamp."""

    amount: Amount
    remittance_information: Text140
    category: Text140 = Field(description="pagoPA taxonomy code, e.g. 9/0101108TS/")
    iban: IbanStr | None = None
    postal_iban: IbanStr | None = None
    beneficiary_fiscal_code: FiscalCode11 | None = Field(
        None, description="Another Ente credited by this transfer; default the Ente itself"
    )
    stamp_hash: Annotated[str, Field(min_length=1, max_length=72)] | None = None
    stamp_type: Annotated[str, Field(pattern=r"^[0-9]{2}$")] | None = None
    stamp_province: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] | None = None
    metadata: Annotated[list[MetadataEntry], Field(max_length=15)] | None = None

    def metadata_entries(self) -> list[dict[str, str]] | None:
        """The metadata as stored (``transfer.metadata_entries``)."""
        return None if self.metadata is None else [m.model_dump() for m in self.metadata]


class OptionInput(_In):
    """One notice: the whole debt, or instalment n of m."""

    amount: Amount
    due_date: dt.date
    transfers: Annotated[list[TransferInput], Field(min_length=1, max_length=5)]
    description: Text140 | None = None
    retention_date: dt.date | None = Field(
        None, description="Last day the notice can be paid; after it the option expires"
    )
    instalment_number: Annotated[int, Field(ge=1, le=100)] | None = None
    instalment_count: Annotated[int, Field(ge=1, le=100)] | None = None
    notice_number: NoticeNumber | None = Field(
        None,
        description="Supply to keep an existing notice (update) or use your own; "
        "omit to have one generated",
    )
    notification_fee: Amount | None = Field(
        None,
        description="SEND's notification cost: added to the amount and to the Ente's own "
        "transfer (give amount and transfers without it). Omitted on a replace, the fee set "
        "earlier stays; 0.00 removes it",
    )


class DebtorFields(_In):
    debtor_type: Literal["F", "G"] = Field(description="F natural person, G legal person")
    debtor_fiscal_code: DebtorCode
    debtor_name: Text140
    debtor_email: Email | None = None
    debtor_street: Street | None = None
    debtor_city: City | None = None
    debtor_postal_code: PostalCode | None = None
    debtor_province: TwoLetters | None = None
    debtor_nation: TwoLetters | None = None
    description: Text140
    service_code: ServiceCode | None = None


class DebtPositionInput(DebtorFields):
    """A debt position: one option, or an instalment plan plus at most one pay-in-full option."""

    iupd: Iupd
    options: Annotated[list[OptionInput], Field(min_length=1, max_length=100)]


class DebtPositionReplace(DebtorFields):
    """PUT: the whole position again (the IUPD is the one in the path)."""

    options: Annotated[list[OptionInput], Field(min_length=1, max_length=100)]


class DebtPositionPatch(_In):
    """PATCH: only the fields given change; options change through PUT."""

    debtor_type: Literal["F", "G"] | None = None
    debtor_fiscal_code: DebtorCode | None = None
    debtor_name: Text140 | None = None
    debtor_email: Email | None = None
    debtor_street: Street | None = None
    debtor_city: City | None = None
    debtor_postal_code: PostalCode | None = None
    debtor_province: TwoLetters | None = None
    debtor_nation: TwoLetters | None = None
    description: Text140 | None = None
    service_code: ServiceCode | None = None


# what the writer takes: a new position, or a position's new content (its IUPD kept)
PositionData = DebtPositionInput | DebtPositionReplace
