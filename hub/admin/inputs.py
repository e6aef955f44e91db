"""What a valid object of the administration is: the one input model of the CLI, the REST API,
the dashboard's forms, bulk onboarding and the seed.

Names are snake_case in Python (``EnteInput(fiscal_code=...)``) and camelCase on the wire
(``{"fiscalCode": ...}``); both are accepted. Unknown fields are refused. ``*Patch`` models
hold only what changes (a field left out keeps its value).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from hub.errors import DomainError
from hub.positions.inputs import Email, FiscalCode11, PlainText, ServiceCode, Text140
from hub.values.identifiers import iban_problem, postal_iban_problem


class InvalidInput(DomainError):
    """An administration input is not valid; ``field`` names the first failing field
    (snake_case path, ``services[2].taxonomy``), ``errors`` all of them."""

    code = "invalid_input"

    def __init__(self, message: str, *, field: str | None = None, errors: list[dict] | None = None):
        super().__init__(message)
        self.field = field
        self.errors = errors or ([{"field": field, "message": message}] if field else [])
        # each failing field's pydantic context (max_length, ...), for the forms' sentences
        self.ctx: dict[str, dict[str, str]] = {}


def _iban(value: str) -> str:
    problem = iban_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _postal_iban(value: str) -> str:
    problem = postal_iban_problem(value)
    if problem:
        raise ValueError(problem)
    return value


Iban = Annotated[
    str, Field(max_length=35, examples=["IT60X0542811101000000123456"]), AfterValidator(_iban)
]
PostalIban = Annotated[str, Field(max_length=35), AfterValidator(_postal_iban)]
BrokerCode = FiscalCode11
StationCode = Annotated[str, Field(pattern=r"^[0-9]{11}_[0-9]{2}$", examples=["77777777777_01"])]
SegregationCode = Annotated[str, Field(pattern=r"^[0-9]{2}$", examples=["01"])]
Cbill = Annotated[str, Field(pattern=r"^[A-Z0-9]{5}$", examples=["A0EDT"])]
Phone = Annotated[str, Field(pattern=r"^\+?[0-9 ()./-]{4,31}$", examples=["+39 051 1234567"])]
Taxonomy = Annotated[
    str,
    Field(
        pattern=r"^9/[0-9]{7}[A-Z]{2}/$",
        examples=["9/0201109SE/"],
        description="pagoPA taxonomy of the transfer (9/ + 7 digits + 2 letters + /)",
    ),
]
Username = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,63}$")]
HttpUrl = Annotated[str, Field(min_length=10, max_length=500, pattern=r"^https?://[^\s/?#]+\S*$")]
Secret = Annotated[str, Field(min_length=8, max_length=128, pattern=r"^\S+$")]
PortaleId = Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,34}$", examples=["PORTALE01"])]
LegacySecret = Annotated[str, Field(min_length=1, max_length=99, pattern=r"^\S+$")]
Role = Literal["operator", "support", "intermediary"]
FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
RESERVED_FIELDS = {"csrf_token", "amount", "payer_fiscal_code", "payer_name", "payer_email"}
Label = (
    Annotated[str, Field(min_length=1, max_length=140), PlainText]
    | dict[Literal["it", "en"], Annotated[str, Field(min_length=1, max_length=140), PlainText]]
)
Money = Annotated[str, Field(pattern=r"^(0|[1-9][0-9]{0,8})\.[0-9]{2}$")]


# A patch's field that may be left out (keeping the value) but not set to null: the column
# has no "nothing" (a null is refused naming the field, instead of failing at the database).
KEEP: Any = Field(default=None)


class _In(BaseModel):
    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, str_strip_whitespace=True
    )

    def given(self) -> dict[str, Any]:
        """The fields the caller set (a patch changes only these)."""
        return self.model_dump(exclude_unset=True)


class IntermediaryInput(_In):
    broker_code: BrokerCode
    name: Text140


class IntermediaryPatch(_In):
    name: Text140 = KEEP


class StationInput(_In):
    station_code: StationCode
    broker_code: BrokerCode
    primitive_version: Literal[1, 2] = 2
    password: Secret | None = Field(default=None, description="the station's pagoPA password")
    subscription_key: Secret | None = Field(default=None, description="pagoPA's subscription key")
    test: bool = Field(
        default=False, description="a station of pagoPA's test environment (its payments are tests)"
    )

    @model_validator(mode="after")
    def _code_of_broker(self) -> StationInput:
        if not self.station_code.startswith(self.broker_code + "_"):
            raise ValueError("a station code is the broker code, '_' and two digits")
        return self


class StationPatch(_In):
    primitive_version: Literal[1, 2] = KEEP
    password: Secret | None = None
    subscription_key: Secret | None = None


class FormField(_In):
    name: str
    label: Label
    type: Literal["text", "textarea", "number", "date", "email", "select", "checkbox"] = "text"
    required: bool = False
    help: Label | None = None
    pattern: Annotated[str, Field(max_length=200)] | None = None
    maxlength: Annotated[int, Field(ge=1, le=1000)] | None = None
    min: float | None = None
    max: float | None = None
    options: list[str | dict[str, Any]] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _checked(self) -> FormField:
        if not FIELD_NAME.match(self.name) or self.name in RESERVED_FIELDS:
            raise ValueError(
                f"field name {self.name!r}: lowercase letters, digits and _, not a reserved name"
            )
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(
                    f"pattern of {self.name!r} is not a regular expression: {exc}"
                ) from None
        if self.type == "select" and not self.options:
            raise ValueError(f"select field {self.name!r} needs options")
        return self


class AmountRule(_In):
    fixed: Money | None = None
    min: Money | None = None
    max: Money | None = None
    computed: dict[str, Any] | None = None


class FormDefinition(_In):
    """A spontaneous service's form (web/checkout/forms.py reads it): the fields the citizen
    fills in and the amount ("free", fixed, a range, or computed)."""

    fields: list[FormField] = Field(default_factory=list, max_length=30)
    amount: Literal["free"] | AmountRule = "free"
    description: Annotated[str, Field(max_length=140), PlainText] | None = None

    @model_validator(mode="after")
    def _unique_names(self) -> FormDefinition:
        names = [f.name for f in self.fields]
        if len(names) != len(set(names)):
            raise ValueError("two fields have the same name")
        return self

    def stored(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True, exclude_defaults=True)


class ServiceInput(_In):
    code: ServiceCode
    label: Text140
    taxonomy: Taxonomy
    iban: Iban | None = None
    kind: Literal["precomputed", "spontaneous"] = "precomputed"
    form: FormDefinition | None = None
    active: bool = True


class ServicePatch(_In):
    label: Text140 = KEEP
    taxonomy: Taxonomy = KEEP
    iban: Iban | None = None
    kind: Literal["precomputed", "spontaneous"] = KEEP
    form: FormDefinition | None = None
    active: bool = KEEP


class LookupInput(_In):
    """The Ente's back office, asked about the citizen's key fields (precomputed services)."""

    url: HttpUrl
    keys: list[FormField] = Field(min_length=1, max_length=5)
    timeout_seconds: Annotated[float, Field(gt=0, le=30)] = 5.0


class IbanInput(_In):
    iban: Iban
    postal: bool = False
    valid_from: dt.date | None = None  # today
    valid_until: dt.date | None = None
    description: Text140 | None = None

    @model_validator(mode="after")
    def _checked(self) -> IbanInput:
        if self.postal and (problem := postal_iban_problem(self.iban)):
            raise ValueError(problem)
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            raise ValueError("valid_until is before valid_from")
        return self


class _EnteFields(_In):
    office: Text140 | None = None
    cbill_code: Cbill | None = None
    iban: Iban | None = None
    postal_iban: PostalIban | None = None
    referente_name: Text140 | None = None
    referente_surname: Text140 | None = None
    referente_email: Email | None = None
    referente_phone: Phone | None = None
    technical_contact_name: Text140 | None = None
    technical_contact_email: Email | None = None
    technical_contact_phone: Phone | None = None
    support_contact_name: Text140 | None = None
    support_contact_email: Email | None = None
    support_contact_phone: Phone | None = None


class EnteInput(_EnteFields):
    fiscal_code: FiscalCode11
    name: Text140
    segregation_code: SegregationCode
    stations: list[StationCode] = Field(min_length=1, max_length=10)
    services: list[ServiceInput] = Field(default_factory=list, max_length=200)

    @model_validator(mode="after")
    def _unique_services(self) -> EnteInput:
        codes = [s.code for s in self.services]
        if len(codes) != len(set(codes)):
            raise ValueError("two services have the same code")
        return self


class EntePatch(_EnteFields):
    name: Text140 = KEEP
    segregation_code: SegregationCode = KEEP
    stations: Annotated[list[StationCode], Field(min_length=1, max_length=10)] = KEEP


class PortalInput(_In):
    """A level-1 portal. A portal built for PayER keeps its own keys (``legacy_buffer`` with
    its PortaleID, IV and Key: hub.checkout.legacy_buffer); any other gets a key id and a
    secret of payhub's signed API."""

    name: Text140
    enti: list[FiscalCode11] = Field(min_length=1, max_length=1000)
    return_url_prefix: HttpUrl
    notify_url: HttpUrl | None = None
    legacy_buffer: bool = Field(
        default=False, description="PayER's legacy Buffer protocol (needs its PortaleID, IV, Key)"
    )
    legacy_code: PortaleId | None = Field(default=None, description="the PayER PortaleID")
    legacy_iv: LegacySecret | None = Field(default=None, description="the PayER portal's IV")
    legacy_key: LegacySecret | None = Field(default=None, description="the PayER portal's Key")

    @model_validator(mode="after")
    def _legacy_keys(self) -> PortalInput:
        keys = (self.legacy_code, self.legacy_iv, self.legacy_key)
        if self.legacy_buffer and None in keys:
            raise ValueError(
                "a PayER portal needs its legacy_code (PortaleID), legacy_iv, legacy_key"
            )
        if not self.legacy_buffer and any(k is not None for k in keys):
            raise ValueError("legacy_code, legacy_iv and legacy_key are for a PayER portal only")
        if self.legacy_buffer and len(self.legacy_iv or "") + len(self.legacy_key or "") > 100:
            raise ValueError("legacy_iv and legacy_key: at most 100 characters together")
        return self


class PortalPatch(_In):
    """What changes of a level-1 portal; its keys change only by rotation. ``notify_url``
    null: no more server-to-server notifications."""

    name: Text140 = KEEP
    enti: Annotated[list[FiscalCode11], Field(min_length=1, max_length=1000)] = KEEP
    return_url_prefix: HttpUrl = KEEP
    notify_url: HttpUrl | None = None
    active: Annotated[
        bool, Field(description="false: the portal's requests are refused (it is kept)")
    ] = KEEP


class WebhookEndpointInput(_In):
    url: HttpUrl
    events: list[str] | None = None
    description: Text140 | None = None


class OperatorInput(_In):
    username: Username
    password: Annotated[str, Field(min_length=10, max_length=200)]
    role: Role = "operator"
    enti: list[FiscalCode11] = Field(default_factory=list, max_length=1000)


class OperatorPatch(_In):
    role: Role = KEEP
    enti: list[FiscalCode11] = KEEP
    enabled: bool = KEEP


M = TypeVar("M", bound=BaseModel)


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.match(r"^(function-|literal\[|[A-Z])", str(part)):
            continue  # a union's branch or a validator: not a field
        else:
            out += ("." if out else "") + str(part)
    return out


def _errors(exc: ValidationError) -> list[dict[str, str]]:
    """Each failing field once; of a union's branches, the one that got furthest (a rule's
    ``amount.fixed`` rather than ``amount`` not being "free")."""
    found: dict[str, dict[str, str]] = {}
    for e in exc.errors():
        path = _path(tuple(e["loc"]))
        entry = {
            "field": path,
            "message": e["msg"].removeprefix("Value error, "),
            "type": e["type"],
        }
        found.setdefault(path, entry)
    paths = list(found)
    return [
        found[p]
        for p in paths
        if not any(o != p and (o.startswith(p + ".") or o.startswith(p + "[")) for o in paths)
    ]


def parse(model: type[M], data: Any) -> M:
    """Validate ``data`` (a dict, by either spelling) into ``model``; raises InvalidInput
    naming every failing field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = _errors(exc)
        first = errors[0]
        where = f"{first['field']}: " if first["field"] else ""
        invalid = InvalidInput(
            f"{where}{first['message']}", field=first["field"] or None, errors=errors
        )
        invalid.ctx = {
            _path(tuple(e["loc"])): {k: str(v) for k, v in (e.get("ctx") or {}).items()}
            for e in exc.errors()
        }
        raise invalid from None
