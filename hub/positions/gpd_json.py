"""GPD's JSON (v1 and v3) to our input model and back.

Requests are read into GPD-shaped pydantic models (names and limits of GPD's OpenAPI
documents; like GPD's own server, unknown and read-only fields are ignored), then turned into
``hub.positions.inputs.DebtPositionInput``: the writer checks them as it checks our REST API's.
What our model has no column for is kept in ``gpd_position`` (hub.models.gpd) and given back.

How GPD maps onto our archive:

* v1 ``paymentOption`` with ``isPartialPayment: false`` is our pay-in-full option; those with
  ``true`` form our instalment plan (numbered by due date). v3 ``paymentOption`` with one
  ``installment`` is a pay-in-full option, with several an instalment plan. Like our archive,
  one pay-in-full option and one plan at most.
* amounts are euro cents (integers); notice numbers are ``3`` + IUV (aux digit 3) unless
  ``nav`` is given; ``dueDate`` becomes the Italian calendar date of the instant.
* the debtor is the position's: v3 options must all name the same debtor.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt
from pydantic.alias_generators import to_camel

from hub import clock
from hub.models import DebtPosition, GpdPosition, PaymentOption, Receipt
from hub.positions.gpd import validity_instant
from hub.positions.inputs import DebtPositionInput, InvalidPosition
from hub.positions.status import derive_status
from workflows.payment import OptionStatus as O
from workflows.payment import PositionStatus as P

Cents = Annotated[StrictInt, Field(ge=0, le=99_999_999_999)]
Text140 = Annotated[str, Field(max_length=140)]


class _Gpd(BaseModel):
    model_config = ConfigDict(extra="ignore", alias_generator=to_camel, populate_by_name=False)


class Metadata(_Gpd):
    key: Text140
    value: Text140 | None = None


class Stamp(_Gpd):
    hash_document: Annotated[str, Field(max_length=72)]
    stamp_type: Annotated[str, Field(max_length=2)]
    provincial_residence: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]


class TransferIn(_Gpd):
    id_transfer: Literal["1", "2", "3", "4", "5"]
    amount: Cents
    organization_fiscal_code: str | None = None
    remittance_information: Text140
    category: str
    iban: Annotated[str, Field(max_length=35, pattern=r"^[A-Za-z0-9]{1,35}$")] | None = None
    postal_iban: Annotated[str, Field(max_length=35, pattern=r"^$|^[A-Za-z0-9]{1,35}$")] | None = (
        None
    )
    stamp: Stamp | None = None
    company_name: Text140 | None = None
    transfer_metadata: Annotated[list[Metadata], Field(max_length=10)] | None = None


class Debtor(_Gpd):
    type: Literal["F", "G"]
    fiscal_code: str
    full_name: str
    street_name: str | None = None
    civic_number: str | None = None
    postal_code: str | None = None
    city: str | None = None
    province: str | None = None
    region: str | None = None
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] | None = None
    email: str | None = None
    phone: str | None = None


class OptionV1(_Gpd):
    nav: str | None = None
    iuv: str
    amount: Cents
    description: Text140
    is_partial_payment: StrictBool
    due_date: dt.datetime
    retention_date: dt.datetime | None = None
    transfer: Annotated[list[TransferIn], Field(min_length=1, max_length=5)]
    payment_option_metadata: Annotated[list[Metadata], Field(max_length=10)] | None = None


class PositionV1(Debtor):
    iupd: Annotated[str, Field(min_length=1)]
    pay_stand_in: StrictBool = True
    switch_to_expired: StrictBool
    company_name: Text140
    office_name: Text140 | None = None
    validity_date: dt.datetime | None = None
    payment_option: Annotated[list[OptionV1], Field(min_length=1, max_length=100)]


class MultiplePositionsV1(_Gpd):
    payment_positions: Annotated[list[PositionV1], Field(min_length=1, max_length=100)]


class InstallmentV3(_Gpd):
    nav: str | None = None
    iuv: str
    amount: Cents
    description: Text140
    due_date: dt.datetime
    transfer: Annotated[list[TransferIn], Field(min_length=1, max_length=5)]
    installment_metadata: Annotated[list[Metadata], Field(max_length=10)] | None = None


class OptionV3(_Gpd):
    description: Text140 | None = None
    validity_date: dt.datetime | None = None
    retention_date: dt.datetime | None = None
    switch_to_expired: StrictBool
    debtor: Debtor
    installments: Annotated[list[InstallmentV3], Field(min_length=1, max_length=100)]


class PositionV3(_Gpd):
    iupd: Annotated[str, Field(min_length=1)]
    pay_stand_in: StrictBool = True
    company_name: Text140
    office_name: Text140 | None = None
    payment_option: Annotated[list[OptionV3], Field(min_length=1, max_length=100)]


class IbanChange(_Gpd):
    new_iban: str


# --- requests -> our input -------------------------------------------------------------------


class Translated:
    """A GPD request as our input plus the GPD-only facts (``gpd_position``'s columns)."""

    def __init__(self, data: DebtPositionInput, columns: dict[str, Any], extras: dict[str, Any]):
        self.data, self.columns, self.extras = data, columns, extras


def _iso(value: dt.datetime | None) -> str | None:
    instant = validity_instant(value)
    return None if instant is None else clock.local(instant).isoformat()


def _day(value: dt.datetime) -> dt.date:
    instant = validity_instant(value)
    assert instant is not None
    return clock.business_date(instant)


def _nav(nav: str | None, iuv: str, where: str) -> str:
    number = nav or ("3" + iuv if len(iuv) == 17 else iuv)
    if not (len(number) == 18 and number.isascii() and number.isdigit()):
        raise InvalidPosition("a 17-digit IUV (or an 18-digit nav) is required", field=where)
    if number[1:] != iuv:
        raise InvalidPosition("the nav is not the aux digit 3 followed by the IUV", field=where)
    return number


def _cents(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _transfers(transfers: list[TransferIn], where: str) -> tuple[list[dict[str, Any]], dict]:
    ids = [t.id_transfer for t in transfers]
    if len(set(ids)) != len(ids):
        raise InvalidPosition("idTransfer values must differ", field=f"{where}.transfer")
    names: dict[str, str] = {}
    out = []
    for t in sorted(transfers, key=lambda t: t.id_transfer):
        if t.company_name:
            names[t.id_transfer] = t.company_name
        out.append(
            {
                "amount": _cents(t.amount),
                "remittance_information": t.remittance_information,
                "category": t.category,
                "iban": t.iban or None,
                "postal_iban": t.postal_iban or None,
                "beneficiary_fiscal_code": t.organization_fiscal_code,
                "stamp_hash": t.stamp.hash_document if t.stamp else None,
                "stamp_type": t.stamp.stamp_type if t.stamp else None,
                "stamp_province": t.stamp.provincial_residence if t.stamp else None,
                "metadata": [m.model_dump() for m in t.transfer_metadata]
                if t.transfer_metadata
                else None,
            }
        )
    return out, names


def _debtor(d: Debtor) -> dict[str, Any]:
    return {
        "debtor_type": d.type,
        "debtor_fiscal_code": d.fiscal_code,
        "debtor_name": d.full_name,
        "debtor_street": d.street_name,
        "debtor_postal_code": d.postal_code,
        "debtor_city": d.city,
        "debtor_province": d.province,
        "debtor_nation": d.country,
        "debtor_email": d.email,
    }


def _debtor_extras(d: Debtor) -> dict[str, Any]:
    """The debtor's fields our archive has no column for (``gpd_position.extras``)."""
    return {"civicNumber": d.civic_number, "phone": d.phone, "region": d.region}


def _option_in(
    amount: int,
    due: dt.datetime,
    retention: dt.datetime | None,
    description: str,
    nav: str,
    transfers: list[dict[str, Any]],
    plan: tuple[int, int] | None,
) -> dict[str, Any]:
    """One v1 option or v3 installment as our OptionInput's fields (``plan``: n of m)."""
    return {
        "amount": _cents(amount),
        "due_date": _day(due),
        "retention_date": _day(retention) if retention else None,
        "description": description,
        "notice_number": nav,
        "instalment_number": plan[0] if plan else None,
        "instalment_count": plan[1] if plan else None,
        "transfers": transfers,
    }


def _columns(
    body: PositionV1 | PositionV3, validity: dt.datetime | None, switch_to_expired: bool
) -> dict[str, Any]:
    """``gpd_position``'s columns from a v1 or v3 body."""
    return {
        "company_name": body.company_name,
        "office_name": body.office_name,
        "validity_date": validity_instant(validity),
        "switch_to_expired": switch_to_expired,
        "pay_stand_in": body.pay_stand_in,
    }


def _build(iupd: str | None, fields: dict[str, Any]) -> DebtPositionInput:
    if iupd is not None:
        fields["iupd"] = iupd
    return DebtPositionInput.of(**fields)


def from_v1(body: PositionV1, iupd: str | None = None) -> Translated:
    partial = sorted(
        (i for i, o in enumerate(body.payment_option) if o.is_partial_payment),
        key=lambda i: (_day(body.payment_option[i].due_date), i),
    )
    number_of = {i: n for n, i in enumerate(partial, 1)}
    options, per_nav = [], {}
    for i, o in enumerate(body.payment_option):
        where = f"paymentOption[{i}]"
        nav = _nav(o.nav, o.iuv, f"{where}.iuv")
        transfers, names = _transfers(o.transfer, where)
        plan = (number_of[i], len(partial)) if i in number_of else None
        options.append(
            _option_in(o.amount, o.due_date, o.retention_date, o.description, nav, transfers, plan)
        )
        per_nav[nav] = {
            "dueDate": _iso(o.due_date),
            "retentionDate": _iso(o.retention_date),
            "isPartialPayment": o.is_partial_payment,
            "metadata": [m.model_dump() for m in o.payment_option_metadata or []],
            "transferNames": names,
            "group": i,
        }
    data = _build(
        iupd or body.iupd,
        {
            **_debtor(body),
            "description": body.payment_option[0].description,
            "options": options,
        },
    )
    return Translated(
        data,
        _columns(body, body.validity_date, body.switch_to_expired),
        {"version": "v1", "debtor": _debtor_extras(body), "options": per_nav},
    )


def from_v3(body: PositionV3, iupd: str | None = None) -> Translated:
    debtor = body.payment_option[0].debtor
    for i, o in enumerate(body.payment_option[1:], 1):
        if o.debtor.model_dump() != debtor.model_dump():
            raise InvalidPosition(
                "payhub keeps one debtor per position: every paymentOption must name the same",
                field=f"paymentOption[{i}].debtor",
            )
    options, per_nav, groups = [], {}, []
    for g, o in enumerate(body.payment_option):
        count = len(o.installments)
        groups.append(
            {
                "description": o.description,
                "validityDate": _iso(o.validity_date),
                "retentionDate": _iso(o.retention_date),
                "switchToExpired": o.switch_to_expired,
            }
        )
        ordered = sorted(enumerate(o.installments), key=lambda p: (_day(p[1].due_date), p[0]))
        for n, (k, inst) in enumerate(ordered, 1):
            where = f"paymentOption[{g}].installments[{k}]"
            nav = _nav(inst.nav, inst.iuv, f"{where}.iuv")
            transfers, names = _transfers(inst.transfer, where)
            options.append(
                _option_in(
                    inst.amount,
                    inst.due_date,
                    o.retention_date,
                    inst.description,
                    nav,
                    transfers,
                    (n, count) if count > 1 else None,
                )
            )
            per_nav[nav] = {
                "dueDate": _iso(inst.due_date),
                "metadata": [m.model_dump() for m in inst.installment_metadata or []],
                "transferNames": names,
                "group": g,
            }
    validity = next((o.validity_date for o in body.payment_option if o.validity_date), None)
    data = _build(
        iupd or body.iupd,
        {
            **_debtor(debtor),
            "description": body.payment_option[0].description
            or body.payment_option[0].installments[0].description,
            "options": options,
        },
    )
    return Translated(
        data,
        _columns(body, validity, any(o.switch_to_expired for o in body.payment_option)),
        {"version": "v3", "debtor": _debtor_extras(debtor), "options": per_nav, "groups": groups},
    )


# --- our archive -> GPD's answers --------------------------------------------------------------

_POSITION_V1 = {
    P.DRAFT: "DRAFT",
    P.PAYABLE: "VALID",
    P.IN_PROGRESS: "VALID",
    P.PARTIALLY_PAID: "PARTIALLY_PAID",
    P.PAID: "PAID",
    P.REPORTED: "REPORTED",
    P.RECONCILED: "REPORTED",
    P.CANCELLED: "INVALID",
    P.EXPIRED: "EXPIRED",
}
_POSITION_V3 = {
    **_POSITION_V1,
    P.REPORTED: "PAID",
    P.RECONCILED: "PAID",
    P.CANCELLED: "UNPAYABLE",
    P.EXPIRED: "UNPAYABLE",
}
_OPTION_V1 = {
    O.PAID: "PO_PAID",
    O.REPORTED: "PO_REPORTED",
    O.RECONCILED: "PO_REPORTED",
}
_OPTION_V3 = {
    O.PAID: "PAID",
    O.REPORTED: "REPORTED",
    O.RECONCILED: "REPORTED",
    O.CANCELLED: "UNPAYABLE",
    O.EXPIRED: "EXPIRED",
}
_REPORTED = {O.REPORTED, O.RECONCILED}


def position_status(position: DebtPosition, gpd: GpdPosition | None, version: str) -> str:
    # from the options themselves: the stored status follows a receipt a moment later (the
    # payment_status_changed actor), and a GPD client reads right after paying
    status = derive_status(position.options)
    if status == P.DRAFT and gpd is not None and gpd.publish_pending:
        return "PUBLISHED"
    table = _POSITION_V1 if version == "v1" else _POSITION_V3
    return table.get(P(status), "DRAFT")


def _local(value: dt.datetime | None) -> str | None:
    return None if value is None else clock.local(value).isoformat()


def _end_of(day: dt.date | None) -> str | None:
    if day is None:
        return None
    return dt.datetime.combine(day, dt.time(23, 59, 59), clock.ROME).isoformat()


def _transfer_json(t: Any, option: PaymentOption, names: dict[str, str], *, response: bool) -> dict:
    out: dict[str, Any] = {
        "idTransfer": str(t.id_transfer),
        "amount": t.amount_cents,
        "organizationFiscalCode": t.beneficiary_fiscal_code,
        "remittanceInformation": t.remittance_information,
        "category": t.category,
    }
    if t.iban:
        out["iban"] = t.iban
    if t.postal_iban:
        out["postalIban"] = t.postal_iban
    if t.stamp_hash:
        out["stamp"] = {
            "hashDocument": t.stamp_hash,
            "stampType": t.stamp_type,
            "provincialResidence": t.stamp_province,
        }
    if names.get(str(t.id_transfer)):
        out["companyName"] = names[str(t.id_transfer)]
    out["transferMetadata"] = list(t.metadata_entries or [])
    if response:
        out["status"] = "T_REPORTED" if option.status in _REPORTED else "T_UNREPORTED"
        out["insertedDate"] = _local(option.created_at)
        out["lastUpdatedDate"] = _local(option.position.updated_at)
    return out


def _receipt_fields(receipt: Receipt | None) -> dict[str, Any]:
    if receipt is None:
        return {}
    out = {
        "idReceipt": receipt.receipt_id,
        "fee": receipt.fee_cents or 0,
        "pspCompany": receipt.psp_company_name,
        "paymentMethod": receipt.payment_method,
    }
    return {k: v for k, v in out.items() if v is not None}


def _facts(gpd: GpdPosition | None, option: PaymentOption) -> dict[str, Any]:
    """What the client gave of this option that our archive has no column for."""
    return dict((gpd.extras.get("options", {}) if gpd else {}).get(option.notice_number, {}))


def _option_common(
    option: PaymentOption,
    facts: dict[str, Any],
    receipt: Receipt | None,
    *,
    response: bool,
    ente_code: str,
    notification_fee: int,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """What a v1 payment option and a v3 installment share: (the leading fields, the fields
    of an answer only). The metadata list is returned under ``metadata``: each version names
    it its own way."""
    out: dict[str, Any] = {
        "nav": option.notice_number,
        "iuv": option.iuv,
        "amount": option.amount_cents,
        "description": option.description or option.position.description,
        "dueDate": facts.get("dueDate") or _end_of(option.due_date),
        "fee": receipt.fee_cents or 0 if receipt else 0,
        "notificationFee": notification_fee,
        "transfer": [
            _transfer_json(t, option, facts.get("transferNames", {}), response=response)
            for t in option.transfers
        ],
        "metadata": [
            {"key": m["key"], "value": m.get("value") or ""} for m in facts.get("metadata", [])
        ],
    }
    answer: dict[str, Any] = {}
    if response:
        answer = {
            "organizationFiscalCode": ente_code,
            "lastUpdatedDate": _local(option.position.updated_at),
            **_receipt_fields(receipt),
        }
        if option.paid_at:
            answer["paymentDate"] = _local(option.paid_at)
    return out, answer


def option_v1(
    option: PaymentOption,
    gpd: GpdPosition | None,
    receipt: Receipt | None,
    *,
    response: bool,
    ente_code: str,
    notification_fee: int = 0,
) -> dict[str, Any]:
    """A v1 payment option: ``PaymentOptionModel`` (``response=False``) or
    ``PaymentOptionModelResponse``/``PaymentsModelResponse`` (``True``)."""
    facts = _facts(gpd, option)
    out, answer = _option_common(
        option,
        facts,
        receipt,
        response=response,
        ente_code=ente_code,
        notification_fee=notification_fee,
    )
    out["paymentOptionMetadata"] = out.pop("metadata")
    out["isPartialPayment"] = facts.get("isPartialPayment", option.instalment_count is not None)
    retention = facts.get("retentionDate") or _end_of(option.retention_date)
    if retention:
        out["retentionDate"] = retention
    if response:
        out["status"] = _OPTION_V1.get(O(option.status), "PO_UNPAID")
        out["insertedDate"] = _local(option.created_at)
    return {**out, **answer}


def installment_v3(
    option: PaymentOption,
    gpd: GpdPosition | None,
    receipt: Receipt | None,
    *,
    response: bool,
    ente_code: str,
    notification_fee: int = 0,
) -> dict[str, Any]:
    """A v3 installment (``InstallmentModel`` or its answer)."""
    out, answer = _option_common(
        option,
        _facts(gpd, option),
        receipt,
        response=response,
        ente_code=ente_code,
        notification_fee=notification_fee,
    )
    out["installmentMetadata"] = out.pop("metadata")
    out["status"] = _OPTION_V3.get(O(option.status), "UNPAID")
    return {**out, **answer}


def _debtor_json(position: DebtPosition, gpd: GpdPosition | None) -> dict[str, Any]:
    """The debtor as both versions write it (v1 at the position's top level, v3 in
    ``debtor``)."""
    debtor = (gpd.extras.get("debtor", {}) if gpd else {}) or {}
    out: dict[str, Any] = {
        "type": position.debtor_type,
        "fiscalCode": position.debtor_fiscal_code,
        "fullName": position.debtor_name,
    }
    optional = {
        "streetName": position.debtor_street,
        "civicNumber": debtor.get("civicNumber") or position.debtor_civic_number,
        "postalCode": position.debtor_postal_code,
        "city": position.debtor_city,
        "province": position.debtor_province,
        "region": debtor.get("region"),
        "country": position.debtor_nation,
        "email": position.debtor_email,
        "phone": debtor.get("phone"),
    }
    out.update({k: v for k, v in optional.items() if v})
    return out


def _position_common(
    position: DebtPosition,
    gpd: GpdPosition | None,
    *,
    version: str,
    response: bool,
    ente_code: str,
    ente_name: str,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """What a v1 and a v3 position share: (the leading fields, the trailing ones: an answer's
    dates, or a request's ``payStandIn``)."""
    out: dict[str, Any] = {
        "iupd": position.iupd,
        "companyName": gpd.company_name if gpd else ente_name,
    }
    if gpd and gpd.office_name:
        out["officeName"] = gpd.office_name
    paid = [o.paid_at for o in position.options if o.paid_at]
    if paid:
        out["paymentDate"] = _local(max(paid))
    out["status"] = position_status(position, gpd, version)
    tail: dict[str, Any]
    if response:
        tail = {
            "organizationFiscalCode": ente_code,
            "insertedDate": _local(position.created_at),
            "lastUpdatedDate": _local(position.updated_at),
        }
        if position.published_at:
            tail["publishDate"] = _local(position.published_at)
    else:
        tail = {"payStandIn": gpd.pay_stand_in if gpd else True}
    return out, tail


def position_v1(
    position: DebtPosition,
    gpd: GpdPosition | None,
    receipts: dict[int, Receipt],
    *,
    response: bool,
    ente_code: str,
    ente_name: str,
    fees: dict[int, int] | None = None,
) -> dict[str, Any]:
    """``PaymentPositionModel`` (``response=False``: create, update, publish, invalidate) or
    ``PaymentPositionModelBaseResponse`` (``True``: get, list)."""
    out, tail = _position_common(
        position, gpd, version="v1", response=response, ente_code=ente_code, ente_name=ente_name
    )
    out["type"] = position.debtor_type
    if gpd and gpd.validity_date:
        out["validityDate"] = _local(gpd.validity_date)
    out.update(tail)
    if not response:
        out["switchToExpired"] = gpd.switch_to_expired if gpd else False
        out.update(_debtor_json(position, gpd))
    out["paymentOption"] = _options_json(
        option_v1,
        _shown(position),
        gpd,
        receipts,
        response=response,
        ente_code=ente_code,
        fees=fees,
    )
    return out


def _options_json(
    render: Callable[..., dict[str, Any]],
    options: Iterable[PaymentOption],
    gpd: GpdPosition | None,
    receipts: dict[int, Receipt],
    *,
    response: bool,
    ente_code: str,
    fees: dict[int, int] | None,
) -> list[dict[str, Any]]:
    """``options`` as ``render`` (option_v1 or installment_v3) writes them, each with its
    receipt and its notification fee (0 where ``fees`` has none)."""
    return [
        render(
            o,
            gpd,
            receipts.get(o.id),
            response=response,
            ente_code=ente_code,
            notification_fee=(fees or {}).get(o.id, 0),
        )
        for o in options
    ]


def _shown(position: DebtPosition) -> list[PaymentOption]:
    """The options GPD shows: not those replaced away by an update (cancelled while the
    position stayed live), in notice order."""
    live = position.status not in (P.CANCELLED, P.EXPIRED)
    return sorted(
        (o for o in position.options if not (live and o.status == O.CANCELLED)),
        key=lambda o: (o.instalment_count is not None, o.instalment_number or 0, o.id),
    )


def _groups(position: DebtPosition, gpd: GpdPosition | None) -> list[list[PaymentOption]]:
    """Our options as v3 payment options: the stored grouping, else each pay-in-full option
    alone and the plan together."""
    facts = gpd.extras.get("options", {}) if gpd else {}
    groups: dict[Any, list[PaymentOption]] = defaultdict(list)
    for o in _shown(position):
        known = facts.get(o.notice_number, {}).get("group")
        key = known if known is not None else ("plan" if o.instalment_count else f"single{o.id}")
        groups[key].append(o)
    # in the order the client gave them (stored groups first, by index)
    return [
        groups[k] for k in sorted(groups, key=lambda k: (not isinstance(k, int), str(k).zfill(9)))
    ]


def position_v3(
    position: DebtPosition,
    gpd: GpdPosition | None,
    receipts: dict[int, Receipt],
    *,
    response: bool,
    ente_code: str,
    ente_name: str,
    fees: dict[int, int] | None = None,
) -> dict[str, Any]:
    """``PaymentPositionModelV3`` (``response=False``) or ``PaymentPositionModelResponseV3``."""
    stored_groups = gpd.extras.get("groups", []) if gpd else []
    facts = gpd.extras.get("options", {}) if gpd else {}
    options = []
    for members in _groups(position, gpd):
        g = facts.get(members[0].notice_number, {}).get("group")
        group = stored_groups[g] if isinstance(g, int) and g < len(stored_groups) else {}
        item: dict[str, Any] = {
            "switchToExpired": group.get(
                "switchToExpired", gpd.switch_to_expired if gpd else False
            ),
            "debtor": _debtor_json(position, gpd),
        }
        validity = group.get("validityDate") or (
            _local(gpd.validity_date) if gpd and gpd.validity_date else None
        )
        if validity:
            item["validityDate"] = validity
        retention = group.get("retentionDate") or _end_of(members[0].retention_date)
        if retention:
            item["retentionDate"] = retention
        if response:
            item["insertedDate"] = _local(position.created_at)
        item["installments"] = _options_json(
            installment_v3,
            members,
            gpd,
            receipts,
            response=response,
            ente_code=ente_code,
            fees=fees,
        )
        options.append(item)
    out, tail = _position_common(
        position, gpd, version="v3", response=response, ente_code=ente_code, ente_name=ente_name
    )
    out.update(tail)
    out["paymentOption"] = options
    return out
