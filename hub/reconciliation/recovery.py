"""Receipt recovery: receipts lost upstream, asked of pagoPA's receipts service (Biz Events).

What is looked for (``receipt_recovery`` rows, one per Ente, IUV and IUR):
- ``flow_entry``: a flow entry with no receipt here (registered by hub.reconciliation.flows);
- ``stuck``: a payment whose activation lapsed ``payhub.recovery_stuck_minutes`` ago without a
  receipt (registered by ``find_stuck``). The receipts service needs the IUR (the receiptId,
  which a paGetPayment does not tell us): both its operations (``biz_events.json`` 0.1.89,
  ``/receipts/{iur}`` and ``/receipts/{iur}/paymentoptions/{iuv}``) take it, none searches by
  IUV or notice number alone. Such a row is closed as soon as a flow entry for its IUV gives
  the IUR (the flow's own row does the asking); no flow after
  ``payhub.recovery_iur_unknown_hours`` opens a ``receipt_needs_iur`` anomaly saying so (once;
  resolved if a flow names it later), and the row gives up at the maximum age without a
  second anomaly;
- ``operator``: a support operator's request for one (Ente, IUV, IUR) (``recover_one``).

``run_due`` (hourly) asks the service by IUV (``/receipts/{iur}/paymentoptions/{iuv}``), then
by IUR alone (``/receipts/{iur}``). A receipt found is stored through the same path as
paSendRT (``hub.payments.store_receipt``: same idempotency, same transitions, history cause
``recovered:bizevents``), then the flow entries naming it are matched again (paid -> reported).
A 429 ends the run (the next one carries on); calls per UTC day stop at
``payhub.recovery_daily_budget``; a row still not found ``payhub.recovery_max_age_days`` after
it was first seen gives up with a ``receipt_not_recovered`` anomaly.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from hub import clock, payments
from hub.db import utcnow
from hub.errors import DomainError, DuplicateReceipt
from hub.models import (
    Anomaly,
    Ente,
    PaymentAttempt,
    PaymentOption,
    Receipt,
    ReceiptRecovery,
    ReceiptRecoveryBudget,
    ReportingEntry,
)
from hub.reconciliation import flows, statements
from hub.reconciliation.pagopa_rest import RateLimited, ReceiptsApi, RestError
from hub.values import anomaly_details
from workflows.payment import PAID_STATES

log = structlog.get_logger(__name__)
SOURCE = "bizevents"


@dataclass
class Result:
    status: str  # recovered | already_here | not_found | rate_limited | unavailable | no_budget
    detail: str = ""
    receipt_pk: int | None = None


@dataclass
class RunSummary:
    asked: int = 0
    recovered: int = 0
    given_up: int = 0
    needs_iur: int = 0  # stuck payments flagged: no flow gives their IUR
    stopped: str | None = None  # rate_limited | no_budget | unavailable


# --- receipts as the service writes them ----------------------------------------------------


def _cents(value: Any) -> int | None:
    if value is None:
        return None
    return int(Decimal(str(value)).quantize(Decimal("0.01")) * 100)


def _subject(data: Mapping[str, Any] | None) -> tuple[dict[str, Any] | None, str | None]:
    """A Debtor/Payer in the shape paSendRT's ctSubject is stored in."""
    if not data:
        return None, None
    subject: dict[str, Any] = {
        "uniqueIdentifier": {
            "entityUniqueIdentifierType": data.get("entityUniqueIdentifierType"),
            "entityUniqueIdentifierValue": data.get("entityUniqueIdentifierValue"),
        }
    }
    for key in (
        "fullName",
        "streetName",
        "civicNumber",
        "postalCode",
        "city",
        "stateProvinceRegion",
        "country",
    ):
        if data.get(key) is not None:
            subject[key] = data[key]
    if data.get("email") is not None:
        subject["e-mail"] = data["email"]
    return subject, data.get("entityUniqueIdentifierValue")


def _date(value: Any) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _datetime(value: Any) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:  # pagoPA's offset-less times are Europe/Rome
        parsed = parsed.replace(tzinfo=clock.ROME)
    return parsed


def receipt_from_json(data: Mapping[str, Any]) -> Receipt:
    """A Receipt from the service's CtReceiptModelResponse (kept as JSON in ``raw_xml``: the
    document as received). The service's JSON has no ``standIn``."""
    transfers = []
    for t in data.get("transferList") or ():
        item = {k: v for k, v in t.items() if k != "metadata"}
        if item.get("transferAmount") is not None:
            item["transferAmount"] = f"{Decimal(str(item['transferAmount'])):.2f}"
        if item.get("idTransfer") is not None:
            item["idTransfer"] = str(item["idTransfer"])
        item["metadata"] = t.get("metadata") or []
        transfers.append(item)
    debtor, debtor_cf = _subject(data.get("debtor"))
    payer, payer_cf = _subject(data.get("payer"))
    when = data.get("paymentDateTimeFormatted") or data.get("paymentDateTime")
    return Receipt(
        ec_fiscal_code=str(data["fiscalCode"]),
        receipt_id=str(data["receiptId"]),
        primitive_version=2,
        notice_number=str(data["noticeNumber"]),
        creditor_reference_id=str(data["creditorReferenceId"]),
        payment_amount_cents=_cents(data["paymentAmount"]) or 0,
        description=data.get("description"),
        company_name=data.get("companyName"),
        office_name=data.get("officeName"),
        outcome=str(data.get("outcome") or "OK"),
        debtor=debtor,
        payer=payer,
        debtor_fiscal_code=debtor_cf,
        payer_fiscal_code=payer_cf,
        id_psp=data.get("idPSP"),
        psp_fiscal_code=data.get("pspFiscalCode"),
        psp_vat_number=data.get("pspPartitaIVA"),
        psp_company_name=data.get("pspCompanyName"),
        id_channel=data.get("idChannel"),
        channel_description=data.get("channelDescription"),
        payment_method=data.get("paymentMethod"),
        fee_cents=_cents(data.get("fee")),
        primary_ci_incurred_fee_cents=_cents(data.get("primaryCiIncurredFee")),
        id_bundle=data.get("idBundle"),
        id_ci_bundle=data.get("idCiBundle"),
        payment_date_time=_datetime(when),
        application_date=_date(data.get("applicationDate")),
        transfer_date=_date(data.get("transferDate")),
        standin=False,
        transfers=transfers,
        metadata_entries=data.get("metadata") or [],
        raw_xml=json.dumps(data, default=str),
    )


# --- what to look for -----------------------------------------------------------------------


def find_stuck(session: Session, *, now: dt.datetime, stuck_minutes: int, max_age_days: int) -> int:
    """Register options whose last activation lapsed ``stuck_minutes`` ago, not paid, no
    receipt (one row per option: IUR unknown). Returns rows added."""
    lapsed_before = now - dt.timedelta(minutes=stuck_minutes)
    since = now - dt.timedelta(days=max_age_days)
    has_receipt = sa.exists().where(Receipt.option_id == PaymentOption.id)
    known = sa.exists().where(
        ReceiptRecovery.ente_id == PaymentOption.ente_id, ReceiptRecovery.iuv == PaymentOption.iuv
    )
    rows = session.execute(
        sa.select(PaymentOption.id, PaymentOption.ente_id, PaymentOption.iuv)
        .join(PaymentAttempt, PaymentAttempt.option_id == PaymentOption.id)
        .where(
            PaymentAttempt.expires_at < lapsed_before,
            PaymentAttempt.expires_at > since,
            PaymentOption.status.not_in(PAID_STATES),
            ~has_receipt,
            ~known,
        )
        .distinct()
    ).all()
    for option_id, ente_id, iuv in rows:
        session.add(
            ReceiptRecovery(
                ente_id=ente_id,
                iuv=iuv,
                iur="",
                option_id=option_id,
                reason="stuck",
                status="pending",
                first_seen_at=now,
                next_attempt_at=now,
            )
        )
    session.flush()
    return len(rows)


def _learn_iur(session: Session, row: ReceiptRecovery) -> bool:
    """A stuck row: a flow entry for its IUV tells the IUR. Then the flow's own row (same
    IUV and IUR) does the asking and this one is closed."""
    iur = session.scalar(
        sa.select(ReportingEntry.iur)
        .join(ReportingEntry.flow)
        .where(ReportingEntry.iuv == row.iuv, ReportingEntry.flow.has(ente_id=row.ente_id))
        .limit(1)
    )
    return iur is not None


# --- budget ---------------------------------------------------------------------------------


def _spend(session: Session, day: dt.date, budget: int, calls: int = 1) -> bool:
    """Count ``calls`` against the day's budget; False (nothing counted) when it is spent."""
    row = session.get(ReceiptRecoveryBudget, day, with_for_update=True)
    if row is None:
        row = ReceiptRecoveryBudget(day=day, calls=0)
        session.add(row)
    if row.calls + calls > budget:
        return False
    row.calls += calls
    return True


def calls_today(session: Session, now: dt.datetime) -> int:
    return (
        session.scalar(
            sa.select(ReceiptRecoveryBudget.calls).where(ReceiptRecoveryBudget.day == now.date())
        )
        or 0
    )


# --- asking ---------------------------------------------------------------------------------


def _ask(api: ReceiptsApi, fiscal_code: str, iuv: str, iur: str) -> dict[str, Any] | None:
    found = api.by_iuv(fiscal_code, iur, iuv)
    if found is None:
        found = api.by_iur(fiscal_code, iur)
        if found is not None and found.get("creditorReferenceId") not in (None, iuv):
            return None  # a receipt with that IUR, for another IUV: not ours to take
    return found


def store_recovered(
    session: Session, data: Mapping[str, Any], *, now: dt.datetime, source: str = SOURCE
) -> Result:
    """Store a receipt found at the service as paSendRT would, then match the flow entries
    naming it. A receipt already here (paSendRT came after all) is not stored twice."""
    receipt = receipt_from_json(data)
    try:
        outcome = payments.store_receipt(session, receipt, now=now, cause=f"recovered:{source}")
    except DuplicateReceipt:
        existing = _existing(session, receipt)
        flows.rematch_entries(session, existing, now)
        return Result("already_here", "the receipt is already here", existing.id)
    matched = flows.rematch_entries(session, outcome.receipt, now)
    log.info(
        "recovery.stored",
        receipt_pk=outcome.receipt.id,
        option_id=outcome.option.id if outcome.option else None,
        entries_matched=matched,
        anomalies=len(outcome.anomalies),
    )
    return Result("recovered", f"stored; {matched} flow entries matched", outcome.receipt.id)


def _existing(session: Session, receipt: Receipt) -> Receipt:
    return session.scalars(
        sa.select(Receipt).where(
            Receipt.ec_fiscal_code == receipt.ec_fiscal_code,
            Receipt.receipt_id == receipt.receipt_id,
        )
    ).one()


def _attempt(
    session: Session, api: ReceiptsApi, row: ReceiptRecovery, ente: Ente, now: dt.datetime
) -> Result:
    row.attempts += 1
    row.last_attempt_at = now
    try:
        found = _ask(api, ente.fiscal_code, row.iuv, row.iur)
    except RateLimited as exc:
        return Result("rate_limited", str(exc))
    except RestError as exc:
        return Result("unavailable", str(exc)[:200])
    if found is None:
        return Result("not_found", "not at the receipts service (yet)")
    if str(found.get("fiscalCode")) != ente.fiscal_code:
        return Result("not_found", "the service answered for another organization")
    result = store_recovered(session, found, now=now)
    row.status = "recovered"
    row.receipt_pk = result.receipt_pk
    row.finished_at = now
    row.next_attempt_at = None
    return result


def run_due(
    session: Session,
    api: ReceiptsApi,
    *,
    now: dt.datetime | None = None,
    budget: int = 5000,
    retry_minutes: float = 60,
    max_age_days: int = 7,
    batch: int = 500,
    iur_unknown_hours: float = 48,
) -> RunSummary:
    """Ask for every pending row that is due, oldest first, in the caller's transaction."""
    now = now or utcnow()
    summary = RunSummary()
    rows = session.scalars(
        sa.select(ReceiptRecovery)
        .where(ReceiptRecovery.status == "pending", ReceiptRecovery.next_attempt_at <= now)
        .order_by(ReceiptRecovery.next_attempt_at, ReceiptRecovery.id)
        .limit(batch)
        .with_for_update(skip_locked=True)
    ).all()
    later = now + dt.timedelta(minutes=retry_minutes)
    for row in rows:
        if row.first_seen_at < now - dt.timedelta(days=max_age_days):
            _give_up(session, row, now)
            summary.given_up += 1
            continue
        if not row.iur:
            if _learn_iur(session, row):
                row.status, row.finished_at = "superseded", now
                row.detail = "a flow entry names it: recovered through that entry"
                _resolve_needs_iur(session, row, now)
            else:
                row.next_attempt_at = later
                if row.first_seen_at <= now - dt.timedelta(hours=iur_unknown_hours):
                    summary.needs_iur += _flag_needs_iur(session, row, iur_unknown_hours)
            continue
        if not _spend(session, now.date(), budget, 2):
            summary.stopped = "no_budget"
            break
        ente = session.get(Ente, row.ente_id)
        assert ente is not None
        summary.asked += 1
        result = _attempt(session, api, row, ente, now)
        row.detail = result.detail[:255]
        if result.status in ("recovered", "already_here"):
            summary.recovered += 1
            continue
        row.next_attempt_at = later
        if result.status in ("rate_limited", "unavailable"):
            summary.stopped = result.status
            break
    log.info(
        "recovery.run",
        due=len(rows),
        asked=summary.asked,
        recovered=summary.recovered,
        given_up=summary.given_up,
        stopped=summary.stopped,
    )
    return summary


NEEDS_IUR = "receipt_needs_iur"


def _open_needs_iur(session: Session, row: ReceiptRecovery) -> Anomaly | None:
    return session.scalars(
        sa.select(Anomaly).where(
            Anomaly.kind == NEEDS_IUR,
            Anomaly.ente_id == row.ente_id,
            Anomaly.option_id == row.option_id,
            Anomaly.resolved_at.is_(None),
        )
    ).first()


def _flag_needs_iur(session: Session, row: ReceiptRecovery, hours: float) -> int:
    """A payment stuck in progress that no flow has named for ``hours``: pagoPA's receipts
    service cannot be asked for it (both its operations need the IUR, the receiptId, which
    only the receipt itself or a flow entry gives), so support is told, once. The row stays
    pending: a flow naming the IUV later still closes it (and resolves the anomaly)."""
    if _open_needs_iur(session, row) is not None:
        return 0
    statements.open_anomaly(
        session,
        NEEDS_IUR,
        anomaly_details.detail(
            NEEDS_IUR,
            iuv=row.iuv,
            since_at=row.first_seen_at.isoformat(timespec="seconds"),
            hours=f"{hours:g}",
        ),
        ente_id=row.ente_id,
        option_id=row.option_id,
    )
    return 1


def _resolve_needs_iur(session: Session, row: ReceiptRecovery, now: dt.datetime) -> None:
    anomaly = _open_needs_iur(session, row)
    if anomaly is not None:
        anomaly.resolved_at = now
        anomaly.resolution_note = "a reporting flow names the payment: recovered through it"


def _give_up(session: Session, row: ReceiptRecovery, now: dt.datetime) -> None:
    row.status, row.finished_at, row.next_attempt_at = "given_up", now, None
    if not row.iur and _open_needs_iur(session, row) is not None:
        return  # support was told already why it cannot be asked for
    statements.open_anomaly(
        session,
        "receipt_not_recovered",
        anomaly_details.detail(
            "receipt_not_recovered",
            iuv=row.iuv,
            iur=row.iur or "-",
            recovery_reason=row.reason,
            attempts=row.attempts,
            since_on=row.first_seen_at.date().isoformat(),
        ),
        ente_id=row.ente_id,
        option_id=row.option_id,
    )


def recover_one(
    session: Session,
    api: ReceiptsApi,
    ente: Ente,
    iuv: str,
    iur: str,
    *,
    operator: str,
    budget: int = 5000,
    now: dt.datetime | None = None,
) -> Result:
    """A support operator's request: ask for one receipt now (counted in the day's budget;
    refused when it is spent) and store it. The caller audits the request."""
    now = now or utcnow()
    iuv, iur = iuv.strip(), iur.strip()
    if not iuv or not iur:
        raise DomainError("IUV and IUR are both needed")
    row = session.scalars(
        sa.select(ReceiptRecovery)
        .where(
            ReceiptRecovery.ente_id == ente.id,
            ReceiptRecovery.iuv == iuv,
            ReceiptRecovery.iur == iur,
        )
        .with_for_update()
    ).one_or_none()
    if row is None:
        option_id = session.scalar(
            sa.select(PaymentOption.id).where(
                PaymentOption.ente_id == ente.id, PaymentOption.iuv == iuv
            )
        )
        row = ReceiptRecovery(
            ente_id=ente.id,
            iuv=iuv,
            iur=iur,
            option_id=option_id,
            reason="operator",
            status="pending",
            attempts=0,
            first_seen_at=now,
        )
        session.add(row)
        session.flush()
    row.requested_by = operator[:64]
    if row.status == "recovered":
        return Result("already_here", "recovered before", row.receipt_pk)
    if not _spend(session, now.date(), budget, 2):
        return Result("no_budget", "today's budget of calls to the receipts service is spent")
    result = _attempt(session, api, row, ente, now)
    row.detail = result.detail[:255]
    if result.status == "not_found":
        row.status = "pending"
        row.next_attempt_at = now + dt.timedelta(hours=1)
    log.info("recovery.operator", ente=ente.fiscal_code, status=result.status)
    return result
