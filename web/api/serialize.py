"""Rows -> API JSON, through the output schemas (so what we send is what the OpenAPI says)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.models import (
    Anomaly,
    BankCredit,
    DebtPosition,
    PaymentService,
    Receipt,
    ReportingEntry,
    ReportingFlow,
    StateTransition,
)
from hub.positions import fees
from hub.values import anomaly_details
from hub.values.money import format_cents
from web.api import schemas


def positions_json(session: Session, positions: list[DebtPosition]) -> list[dict[str, Any]]:
    """Serialise positions with their options, transfers, history and open anomalies: three
    queries in all, whatever the number of positions, when the caller loaded the options and
    their transfers with the positions (``selectinload``, as the list does); otherwise each
    position's options and each option's transfers are one lazy query more."""
    option_ids = [o.id for p in positions for o in p.options]
    history: dict[int, list[StateTransition]] = defaultdict(list)
    flags: dict[int, list[str]] = defaultdict(list)
    services: dict[int, str] = {}
    if option_ids:
        for t in session.scalars(
            sa.select(StateTransition)
            .where(StateTransition.option_id.in_(option_ids))
            .order_by(StateTransition.id)
        ):
            history[t.option_id].append(t)
        for option_id, kind in session.execute(
            sa.select(Anomaly.option_id, Anomaly.kind)
            .where(Anomaly.option_id.in_(option_ids), Anomaly.resolved_at.is_(None))
            .order_by(Anomaly.id)
        ):
            flags[option_id].append(kind)
    service_ids = {p.service_id for p in positions if p.service_id}
    if service_ids:
        services = dict(
            session.execute(
                sa.select(PaymentService.id, PaymentService.code).where(
                    PaymentService.id.in_(service_ids)
                )
            ).all()
        )
    notification_fees = fees.fees_of(session, option_ids)
    return [_position(p, history, flags, services, notification_fees) for p in positions]


def _position(
    p: DebtPosition,
    history: dict[int, list[StateTransition]],
    flags: dict[int, list[str]],
    services: dict[int, str],
    notification_fees: dict[int, int],
) -> dict[str, Any]:
    options = [
        schemas.OptionOutput(
            notice_number=o.notice_number,
            iuv=o.iuv,
            amount=format_cents(o.amount_cents),
            description=o.description,
            due_date=o.due_date,
            retention_date=o.retention_date,
            instalment_number=o.instalment_number,
            instalment_count=o.instalment_count,
            status=o.status,
            paid_amount=format_cents(o.paid_cents),
            paid_at=o.paid_at,
            notification_fee=(
                format_cents(notification_fees[o.id]) if o.id in notification_fees else None
            ),
            anomalies=flags[o.id],
            transfers=[
                schemas.TransferOutput(
                    id_transfer=t.id_transfer,
                    amount=format_cents(t.amount_cents),
                    beneficiary_fiscal_code=t.beneficiary_fiscal_code,
                    iban=t.iban,
                    postal_iban=t.postal_iban,
                    stamp_hash=t.stamp_hash,
                    remittance_information=t.remittance_information,
                    category=t.category,
                    metadata=t.metadata_entries,
                )
                for t in o.transfers
            ],
            history=[
                schemas.TransitionOutput(
                    event=t.event, from_state=t.from_state, to_state=t.to_state, at=t.created_at
                )
                for t in history[o.id]
            ],
        )
        for o in p.options
    ]
    out = schemas.DebtPositionOutput(
        iupd=p.iupd,
        status=p.status,
        version=p.version,
        debtor_type=p.debtor_type,
        debtor_fiscal_code=p.debtor_fiscal_code,
        debtor_name=p.debtor_name,
        debtor_email=p.debtor_email,
        debtor_street=p.debtor_street,
        debtor_city=p.debtor_city,
        debtor_postal_code=p.debtor_postal_code,
        debtor_province=p.debtor_province,
        debtor_nation=p.debtor_nation,
        description=p.description,
        service_code=services.get(p.service_id) if p.service_id else None,
        due_date=p.due_date,
        created_at=p.created_at,
        updated_at=p.updated_at,
        published_at=p.published_at,
        options=options,
    )
    return out.model_dump(mode="json", by_alias=True)


def receipt_json(r: Receipt) -> dict[str, Any]:
    return schemas.ReceiptOutput(
        receipt_id=r.receipt_id,
        notice_number=r.notice_number,
        iuv=r.creditor_reference_id,
        ec_fiscal_code=r.ec_fiscal_code,
        outcome=r.outcome,
        amount=format_cents(r.payment_amount_cents),
        fee=format_cents(r.fee_cents) if r.fee_cents is not None else None,
        description=r.description,
        debtor_fiscal_code=r.debtor_fiscal_code,
        payer_fiscal_code=r.payer_fiscal_code,
        psp_id=r.id_psp,
        psp_company_name=r.psp_company_name,
        payment_method=r.payment_method,
        payment_date_time=r.payment_date_time,
        application_date=r.application_date,
        transfer_date=r.transfer_date,
        standin=r.standin,
        transfers=r.transfers,
        received_at=r.received_at,
    ).model_dump(mode="json", by_alias=True)


def flow_datetime(value: dt.datetime) -> str:
    """A flow's dataOraFlusso as written (naive, the Node's local time)."""
    return value.replace(tzinfo=None).isoformat()


def _flow_fields(f: ReportingFlow, credit_id: int | None) -> dict[str, Any]:
    return {
        "flow_id": f.flow_id,
        "flow_date_time": flow_datetime(f.flow_datetime),
        "psp_id": f.psp_id,
        "psp_name": f.psp_name,
        "settlement_id": f.settlement_id,
        "settlement_date": f.settlement_date,
        "declared_count": f.declared_count,
        "declared_total": format_cents(f.declared_total_cents),
        "computed_count": f.computed_count,
        "computed_total": format_cents(f.computed_total_cents),
        "status": f.status,
        "credited": credit_id is not None,
        "credit_id": credit_id,
        "received_at": f.received_at,
    }


def flow_json(f: ReportingFlow, credit_id: int | None) -> dict[str, Any]:
    return schemas.ReportingFlowOutput(**_flow_fields(f, credit_id)).model_dump(
        mode="json", by_alias=True
    )


def flow_detail_json(
    f: ReportingFlow,
    credit_id: int | None,
    versions: list[dt.datetime],
    entries: list[tuple[ReportingEntry, str | None]],
) -> dict[str, Any]:
    return schemas.ReportingFlowDetail(
        **_flow_fields(f, credit_id),
        versions=[flow_datetime(v) for v in versions],
        entries=[
            schemas.ReportingEntryOutput(
                iuv=e.iuv,
                iur=e.iur,
                transfer_index=e.transfer_index,
                amount=format_cents(e.amount_cents),
                outcome_code=e.outcome_code,
                outcome_date=e.outcome_date,
                match=e.match,
                notice_number=notice,
            )
            for e, notice in entries
        ],
    ).model_dump(mode="json", by_alias=True)


def credit_json(c: BankCredit, flow_id: str | None, flow_at: dt.datetime | None) -> dict[str, Any]:
    return schemas.BankCreditOutput(
        id=c.id,
        value_date=c.value_date,
        booking_date=c.booking_date,
        amount=format_cents(c.amount_cents),
        description=c.description,
        reference=c.reference,
        flow_id=c.flow_id,
        matched_flow_id=flow_id,
        matched_flow_date_time=flow_datetime(flow_at) if flow_at else None,
        status=c.status,
        received_at=c.received_at,
    ).model_dump(mode="json", by_alias=True)


def anomaly_json(
    a: Anomaly,
    notice: str | None,
    receipt_id: str | None,
    flow_id: str | None,
    credit_reference: str | None,
) -> dict[str, Any]:
    parsed = anomaly_details.parse(a.detail)
    return schemas.AnomalyOutput(
        id=a.id,
        kind=a.kind,
        detail=anomaly_details.english(a.detail),
        detail_code=parsed.code if parsed else None,
        detail_params=parsed.params if parsed else None,
        notice_number=notice,
        receipt_id=receipt_id,
        flow_id=flow_id,
        credit_id=a.credit_pk,
        credit_reference=credit_reference,
        created_at=a.created_at,
        resolved_at=a.resolved_at,
        resolution_note=a.resolution_note,
    ).model_dump(mode="json", by_alias=True)
