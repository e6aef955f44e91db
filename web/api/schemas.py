"""The API's JSON shapes (pydantic): strict input validation and the OpenAPI schemas in one place.

The input model of debt positions is hub's (hub.positions.inputs), shared with bulk loads and
every other writer of positions; it is re-exported here for the views and the OpenAPI document.

Amounts are strings with exactly two decimals ("30.00"), never numbers: JSON numbers become
floats in most clients. Names are camelCase on the wire; unknown fields are refused.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

import workflows.payment
from hub.positions.inputs import (  # the one input model of positions, shared with bulk loads
    Amount,
    NoticeNumber,
)
from hub.positions.inputs import DebtorFields as DebtorFields
from hub.positions.inputs import DebtPositionInput as DebtPositionInput
from hub.positions.inputs import DebtPositionPatch as DebtPositionPatch
from hub.positions.inputs import DebtPositionReplace as DebtPositionReplace
from hub.positions.inputs import MetadataEntry as MetadataEntry
from hub.positions.inputs import OptionInput as OptionInput
from hub.positions.inputs import TransferInput as TransferInput

# query strings: a date is YYYY-MM-DD only (pydantic's lax mode would take "0" as a timestamp)
QueryDate = Annotated[
    str, Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"), AfterValidator(dt.date.fromisoformat)
]
# the states' values, as the machine names them (workflows.payment)
PositionStatus = Literal[tuple(s.value for s in workflows.payment.PositionStatus)]  # type: ignore[valid-type]
OptionStatus = Literal[tuple(s.value for s in workflows.payment.OptionStatus)]  # type: ignore[valid-type]


class _Out(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class TransferOutput(_Out):
    id_transfer: int
    amount: Amount
    beneficiary_fiscal_code: str
    iban: str | None
    postal_iban: str | None
    stamp_hash: str | None
    remittance_information: str
    category: str
    metadata: list[dict[str, str]] | None


class TransitionOutput(_Out):
    event: str
    from_state: str
    to_state: str
    at: dt.datetime


class OptionOutput(_Out):
    notice_number: str
    iuv: str
    amount: Amount
    description: str | None
    due_date: dt.date
    retention_date: dt.date | None
    instalment_number: int | None
    instalment_count: int | None
    status: OptionStatus
    paid_amount: Amount
    paid_at: dt.datetime | None
    notification_fee: Amount | None = Field(
        None, description="SEND's notification cost, included in amount (null: none)"
    )
    anomalies: list[str] = Field(description="Open anomaly flags (e.g. double_payment)")
    transfers: list[TransferOutput]
    history: list[TransitionOutput]


class DebtPositionOutput(_Out):
    iupd: str
    status: PositionStatus
    version: int = Field(description="Also sent as the ETag; send it back in If-Match")
    debtor_type: str
    debtor_fiscal_code: str
    debtor_name: str
    debtor_email: str | None
    debtor_street: str | None
    debtor_city: str | None
    debtor_postal_code: str | None
    debtor_province: str | None
    debtor_nation: str | None
    description: str
    service_code: str | None
    due_date: dt.date | None
    created_at: dt.datetime
    updated_at: dt.datetime
    published_at: dt.datetime | None
    options: list[OptionOutput]


class DebtPositionPage(_Out):
    items: list[DebtPositionOutput]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null on the last page"
    )


class ReceiptOutput(_Out):
    receipt_id: str
    notice_number: str
    iuv: str
    ec_fiscal_code: str = Field(
        description="The Ente creditore the receipt names (its `fiscalCode`)"
    )
    outcome: str
    amount: Amount
    fee: Amount | None
    description: str | None
    debtor_fiscal_code: str | None
    payer_fiscal_code: str | None
    psp_id: str | None
    psp_company_name: str | None
    payment_method: str | None
    payment_date_time: dt.datetime | None
    application_date: dt.date | None
    transfer_date: dt.date | None
    standin: bool
    transfers: list[dict[str, Any]] | None
    received_at: dt.datetime


class ReceiptList(_Out):
    items: list[ReceiptOutput]


class ReceiptPage(_Out):
    items: list[ReceiptOutput]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null on the last page"
    )


class FieldError(_Out):
    field: str
    message: str


class ProblemDocument(_Out):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None
    field: str | None = Field(None, description="The first failing field, if any")
    errors: list[FieldError] | None = None


class ListQuery(BaseModel):
    """Filters of GET .../debt-positions (query parameters)."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=False)

    status: PositionStatus | None = None
    due_date_from: QueryDate | None = None
    due_date_to: QueryDate | None = None
    payment_date_from: QueryDate | None = None
    payment_date_to: QueryDate | None = None
    debtor_fiscal_code: Annotated[str, Field(max_length=16)] | None = None
    service_code: Annotated[str, Field(max_length=35)] | None = None
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    cursor: Annotated[str, Field(max_length=40)] | None = None


class ReceiptQuery(BaseModel):
    """Filters of GET .../receipts (query parameters). ``from``/``to`` are days (UTC) of
    ``receivedAt``, when payhub stored the receipt: always set, unlike the optional
    ``paymentDateTime``, so a receipt that arrives late (Stand-In) is not missed by a
    client that asks for everything since its last call."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=False)

    iuv: Annotated[str, Field(pattern=r"^[A-Za-z0-9]{1,35}$")] | None = None
    notice_number: NoticeNumber | None = None
    from_: QueryDate | None = Field(None, alias="from")
    to: QueryDate | None = None
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    cursor: Annotated[str, Field(max_length=40)] | None = None


# --- reporting flows, bank credits, anomalies (web/api/reporting.py) ----------------------------

FlowId = Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,35}$")]
FlowStatus = Literal["received", "anomalous", "reconciled", "superseded"]  # not a payment state
# a flow's dataOraFlusso as written in it: the Node's local time, without offset
FLOW_DATETIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?$"
FlowDateTime = Annotated[
    str,
    Field(
        pattern=FLOW_DATETIME,
        examples=["2026-11-28T01:00:00"],
        description="dataOraFlusso as written in the flow (the Node's local time, no offset)",
    ),
]
_PAGE = Annotated[int, Field(ge=1, le=200)]
_CURSOR = Annotated[str, Field(max_length=40)]
_Kind = Annotated[str, Field(pattern=r"^[a-z][a-z_]{0,31}$")]


class _Query(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=False)


class FlowQuery(_Query):
    """Filters of GET .../reporting-flows. ``from``/``to`` are days of the flow's
    ``flowDateTime`` (dataOraFlusso, the Node's local time), both included."""

    flow_id: FlowId | None = None
    psp: FlowId | None = None
    status: FlowStatus | None = None
    from_: QueryDate | None = Field(None, alias="from")
    to: QueryDate | None = None
    limit: _PAGE = 50
    cursor: _CURSOR | None = None


class FlowVersionQuery(_Query):
    version: (
        Annotated[str, Field(pattern=FLOW_DATETIME), AfterValidator(dt.datetime.fromisoformat)]
        | None
    ) = None


class BankCreditQuery(_Query):
    """Filters of GET .../bank-credits: ``from``/``to`` are days of ``valueDate``."""

    from_: QueryDate | None = Field(None, alias="from")
    to: QueryDate | None = None
    matched: Literal["true", "false"] | None = None
    limit: _PAGE = 50
    cursor: _CURSOR | None = None


class AnomalyQuery(_Query):
    status: Literal["open", "resolved", "all"] = "open"
    kind: _Kind | None = None
    limit: _PAGE = 50
    cursor: _CURSOR | None = None


class ReportingFlowOutput(_Out):
    flow_id: str
    flow_date_time: FlowDateTime
    psp_id: str
    psp_name: str | None
    settlement_id: str = Field(description="identificativoUnivocoRegolamento")
    settlement_date: dt.date
    declared_count: int
    declared_total: Amount
    computed_count: int = Field(description="Entries actually in the flow")
    computed_total: Amount = Field(description="Sum of the entries")
    status: FlowStatus
    credited: bool = Field(description="A bank credit matched this version of the flow")
    credit_id: int | None = Field(description="`id` of that bank credit (see bank-credits)")
    received_at: dt.datetime


class ReportingEntryOutput(_Out):
    iuv: str
    iur: str = Field(description="identificativoUnivocoRiscossione (the receiptId)")
    transfer_index: int | None
    amount: Amount
    outcome_code: str = Field(description="codiceEsitoSingoloPagamento: 0, 3, 4, 8, 9")
    outcome_date: dt.date
    match: str = Field(
        description="matched, amount_mismatch, no_receipt, not_paid, revoked, "
        "without_rpt, other_ente or superseded"
    )
    notice_number: str | None = Field(description="The notice the entry was matched to")


class ReportingFlowDetail(ReportingFlowOutput):
    versions: list[FlowDateTime] = Field(
        description="Every stored version's flowDateTime, newest first (pass as ?version=)"
    )
    entries: list[ReportingEntryOutput]


class ReportingFlowPage(_Out):
    items: list[ReportingFlowOutput]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null on the last page"
    )


class BankCreditOutput(_Out):
    id: int
    value_date: dt.date
    booking_date: dt.date | None
    amount: Amount
    description: str
    reference: str | None = Field(description="The bank's reference, when the statement has one")
    flow_id: str | None = Field(
        description="Read from /PUR/LGPE-RIVERSAMENTO/URI/<flow id> of the description"
    )
    matched_flow_id: str | None = Field(description="The stored flow the credit was matched to")
    matched_flow_date_time: FlowDateTime | None
    status: Literal[
        "matched", "amount_mismatch", "unknown_flow", "no_flow_id", "duplicate", "unmatched"
    ]
    received_at: dt.datetime


class BankCreditPage(_Out):
    items: list[BankCreditOutput]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null on the last page"
    )


class AnomalyOutput(_Out):
    id: int
    kind: str
    detail: str = Field(description="What happened, as an English sentence")
    detail_code: str | None = Field(
        description="The detail's code (null for anomalies opened before details had codes)"
    )
    detail_params: dict[str, Any] | None = Field(
        description="The detail's parameters: *_cents amounts in cents, *_at UTC times, *_on "
        "dates (ISO 8601); null with no code"
    )
    notice_number: str | None
    receipt_id: str | None
    flow_id: str | None
    credit_id: int | None
    credit_reference: str | None
    created_at: dt.datetime
    resolved_at: dt.datetime | None
    resolution_note: str | None


class AnomalyPage(_Out):
    items: list[AnomalyOutput]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null on the last page"
    )
