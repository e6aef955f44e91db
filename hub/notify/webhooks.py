"""Signed notifications to endpoints: register, fan out, sign, record attempts, dead letters.

Generic machinery: an endpoint (URL, key id, secret) receives deliveries (one event each).
``notify`` writes a delivery and the outbox message that sends it, in the caller's
transaction; the same event for the same endpoint is written once (unique endpoint + event id),
so a redelivered message sends nothing twice. The HTTP call itself is made by
``actors.webhooks``; this module builds the signed request and records what happened.

Every delivery's next due time is in its row (``next_attempt_at``), so ``take_due`` (run by
the scheduler) finds whatever is due however the message that should have sent it was lost;
Dramatiq's delay queue only makes a retry start sooner. Support lists every delivery not
delivered (``undelivered``) and can ``replay`` any of them.

Signature: ``X-Payhub-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``
and ``X-Payhub-Key-Id: <key id>``. The REST API's webhooks (``notify_transition``) and the
level-1 portal notifications both go through ``notify``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from hub import actor_names, delivery_queue, outbox
from hub.db import utcnow
from hub.errors import Conflict, NotFound
from hub.models import (
    DebtPosition,
    Ente,
    PaymentOption,
    StateTransition,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from hub.models.webhooks import UNFINISHED
from hub.values.money import from_cents
from workflows.payment import OptionStatus
from workflows.refund import STATES as REFUND_STATES

log = structlog.get_logger(__name__)

DELIVER_ACTOR = actor_names.DELIVER_WEBHOOK
QUEUE = "webhooks"
SIGNATURE_HEADER = "X-Payhub-Signature"
KEY_ID_HEADER = "X-Payhub-Key-Id"
# option states an Ente is told about, and the event type each one becomes
EVENT_TYPES: dict[str, str] = {
    state: f"payment.{state}"
    for state in (
        OptionStatus.PAID,
        OptionStatus.CANCELLED,
        OptionStatus.EXPIRED,
        OptionStatus.REPORTED,
        OptionStatus.RECONCILED,
    )
}
# refund cases (issue 16): one event type per state a case reaches (hub.refunds)
REFUND_EVENT_TYPES = tuple(f"refund.{state}" for state in REFUND_STATES)
ALL_EVENT_TYPES = (*EVENT_TYPES.values(), *REFUND_EVENT_TYPES)
_EVENT_NAMESPACE = uuid.UUID("5b0e3c1e-8a51-4c43-9d2b-0d7a8f1f7c11")
# a new or replayed delivery is sent at once through the outbox; the scheduler sends it only
# if it is still pending this long after
SCHEDULER_GRACE = dt.timedelta(seconds=30)
EARLY = dt.timedelta(seconds=1)  # a retry may start this much before its due time
CHUNK = 1000  # ids per IN (...)


@dataclass(frozen=True)
class RegisteredEndpoint:
    endpoint: WebhookEndpoint
    secret: str  # shown once


@dataclass(frozen=True)
class SignedRequest:
    url: str
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class AttemptResult:
    started_at: dt.datetime
    duration_ms: int
    status_code: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


# --- endpoints -------------------------------------------------------------------------------


def register_endpoint(
    session: Session,
    ente: Ente,
    url: str,
    *,
    events: list[str] | None = None,
    description: str | None = None,
    api_key_id: int | None = None,
    kind: str = "api",
) -> RegisteredEndpoint:
    """Create an endpoint with a fresh key id and secret (the secret is returned only here)."""
    unknown = sorted(set(events or ()) - set(ALL_EVENT_TYPES)) if kind == "api" else []
    if unknown:
        raise Conflict(f"unknown event type {unknown[0]!r}", code="unknown_event_type")
    secret = "whsec_" + secrets.token_urlsafe(32)
    endpoint = WebhookEndpoint(
        public_id=str(uuid.uuid4()),
        ente_id=ente.id,
        kind=kind,
        api_key_id=api_key_id,
        url=url,
        description=description,
        key_id="whk_" + secrets.token_hex(8),
        secret=secret,
        events=sorted(set(events or ALL_EVENT_TYPES)),
    )
    session.add(endpoint)
    session.flush()
    return RegisteredEndpoint(endpoint, secret)


def active_endpoints(session: Session, ente_id: int, *, kind: str = "api") -> list[WebhookEndpoint]:
    return list(
        session.scalars(
            sa.select(WebhookEndpoint)
            .where(
                WebhookEndpoint.ente_id == ente_id,
                WebhookEndpoint.kind == kind,
                WebhookEndpoint.deleted_at.is_(None),
            )
            .order_by(WebhookEndpoint.id)
        )
    )


def find_endpoint(session: Session, ente_id: int, public_id: str) -> WebhookEndpoint:
    endpoint = session.scalar(
        sa.select(WebhookEndpoint).where(
            WebhookEndpoint.ente_id == ente_id,
            WebhookEndpoint.public_id == public_id,
            WebhookEndpoint.deleted_at.is_(None),
        )
    )
    if endpoint is None:
        raise NotFound("no such webhook endpoint")
    return endpoint


def delete_endpoint(session: Session, endpoint: WebhookEndpoint) -> None:
    """Stop sending to the endpoint; its deliveries stay for the record."""
    endpoint.deleted_at = utcnow()


# --- writing deliveries ----------------------------------------------------------------------


def notify(
    session: Session,
    endpoint: WebhookEndpoint,
    event_id: str,
    event_type: str,
    payload: dict[str, Any],
) -> WebhookDelivery | None:
    """Write the delivery of ``payload`` to ``endpoint`` and the message that sends it.

    Returns None (writing nothing) if this event was already written for this endpoint."""
    public_id = str(uuid.uuid4())
    values = {
        "public_id": public_id,
        "endpoint_id": endpoint.id,
        "ente_id": endpoint.ente_id,
        "event_id": event_id,
        "event_type": event_type,
        "payload": payload,
        "status": "pending",
        "attempts": 0,
        "replays": 0,
        "expired_claims": 0,
        "next_attempt_at": utcnow() + SCHEDULER_GRACE,
    }
    if session.get_bind().dialect.name == "postgresql":
        # ON CONFLICT: a concurrent twin neither fails this transaction nor writes twice
        new_id = session.scalar(
            pg_insert(WebhookDelivery)
            .values(**values, created_at=utcnow(), updated_at=utcnow())
            .on_conflict_do_nothing(index_elements=["endpoint_id", "event_id"])
            .returning(WebhookDelivery.id)
        )
    else:
        exists = session.scalar(
            sa.select(WebhookDelivery.id).where(
                WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.event_id == event_id
            )
        )
        new_id = None
        if exists is None:
            row = WebhookDelivery(**values)
            session.add(row)
            session.flush()
            new_id = row.id
    if new_id is None:
        return None
    outbox.enqueue(session, DELIVER_ACTOR, queue_name=QUEUE, delivery_id=new_id)
    return session.get(WebhookDelivery, new_id)


def transition_event(
    session: Session, option_id: int, event: str, from_state: str, to_state: str
) -> tuple[str, str, dict[str, Any]] | None:
    """(event id, event type, payload) for an option's transition, or None if Enti are not
    told about it. The event id is derived from the StateTransition row, so the same
    transition always yields the same id. No personal data: no debtor, no payer."""
    event_type = EVENT_TYPES.get(to_state)
    if event_type is None or from_state == to_state:
        return None
    row = session.execute(
        sa.select(PaymentOption, DebtPosition, Ente.fiscal_code)
        .join(DebtPosition, DebtPosition.id == PaymentOption.position_id)
        .join(Ente, Ente.id == PaymentOption.ente_id)
        .where(PaymentOption.id == option_id)
    ).one_or_none()
    if row is None:
        return None
    option, position, ec = row
    transition = session.scalar(
        sa.select(StateTransition)
        .where(
            StateTransition.option_id == option_id,
            StateTransition.event == event,
            StateTransition.from_state == from_state,
            StateTransition.to_state == to_state,
        )
        .order_by(StateTransition.id.desc())
        .limit(1)
    )
    if transition is None:
        return None
    event_id = str(uuid.uuid5(_EVENT_NAMESPACE, f"state_transition:{transition.id}"))
    payload = {
        "id": event_id,
        "type": event_type,
        "occurredAt": _iso(transition.created_at),
        "enteFiscalCode": ec,
        "iupd": position.iupd,
        "noticeNumber": option.notice_number,
        "iuv": option.iuv,
        "event": event,
        "fromState": from_state,
        "toState": to_state,
        "positionStatus": position.status,
        "amount": str(from_cents(option.amount_cents)),
        "paidAmount": str(from_cents(option.paid_cents or 0)),
        "dueDate": option.due_date.isoformat(),
        "instalmentNumber": option.instalment_number,
        "instalmentCount": option.instalment_count,
    }
    return event_id, event_type, payload


def notify_transition(
    session: Session, option_id: int, event: str, from_state: str, to_state: str
) -> int:
    """Write one delivery per endpoint of the option's Ente subscribed to this transition's
    event type; return how many were written (0 for a repeat)."""
    if to_state not in EVENT_TYPES or from_state == to_state:
        return 0
    ente_id = session.scalar(sa.select(PaymentOption.ente_id).where(PaymentOption.id == option_id))
    endpoints = active_endpoints(session, ente_id) if ente_id is not None else []
    built = transition_event(session, option_id, event, from_state, to_state) if endpoints else None
    if built is None:
        return 0
    event_id, event_type, payload = built
    written = 0
    for endpoint in endpoints:
        if event_type in endpoint.events and notify(
            session, endpoint, event_id, event_type, payload
        ):
            written += 1
    if written:
        log.info(
            "webhooks.fanned_out", option_id=option_id, event_type=event_type, deliveries=written
        )
    return written


# --- signing and sending ---------------------------------------------------------------------


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``"<timestamp>.<body>"`` with the endpoint's secret."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signed_request(
    delivery: WebhookDelivery, endpoint: WebhookEndpoint, now: dt.datetime | None = None
) -> SignedRequest:
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = int((now or utcnow()).timestamp())
    return SignedRequest(
        endpoint.url,
        body,
        {
            "Content-Type": "application/json",
            "User-Agent": "payhub-webhooks/1",
            "X-Payhub-Event": delivery.event_type,
            "X-Payhub-Event-Id": delivery.event_id,
            "X-Payhub-Delivery-Id": delivery.public_id,
            KEY_ID_HEADER: endpoint.key_id,
            SIGNATURE_HEADER: f"t={timestamp},v1={signature(endpoint.secret, timestamp, body)}",
        },
    )


def claim(
    session: Session,
    delivery_id: int,
    *,
    lease: dt.timedelta,
    max_attempts: int | None = None,
    now: dt.datetime | None = None,
) -> SignedRequest | dt.timedelta | None:
    """Take the delivery for one attempt (row lock, then a lease so a concurrent run waits).

    The claim is committed before the post, so a run that dies after posting leaves the
    delivery ``sending`` with a lease: the next claim after the lease ends records that
    attempt as of unknown outcome (``expired_claims``: at most one duplicate post per expired
    lease) and counts it towards ``max_attempts``.

    Returns the request to send; None if there is nothing to send now (delivered, dead, a
    retry not yet due, endpoint deleted: then marked dead); or how long another run still
    holds it."""
    now = now or utcnow()
    delivery = session.get(
        WebhookDelivery, delivery_id, with_for_update=True, populate_existing=True
    )
    if delivery is None or delivery.status in ("delivered", "dead"):
        return None
    if delivery.status == "sending" and delivery.lease_until and delivery.lease_until > now:
        return delivery.lease_until - now
    if (
        delivery.status == "retrying"
        and delivery.next_attempt_at
        and delivery.next_attempt_at > now + EARLY
    ):
        return None  # an early copy of the message: the due time is in the row
    endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
    if endpoint is None or not endpoint.active:
        delivery.status, delivery.last_error = "dead", "endpoint deleted"
        delivery.next_attempt_at = delivery.lease_until = None
        return None
    if delivery.status == "sending":  # the last run claimed it and never said how it went
        _record_expired_claim(session, delivery, now, max_attempts)
        if delivery.status == "dead":
            return None
    delivery.status, delivery.lease_until = "sending", now + lease
    delivery.next_attempt_at = delivery.lease_until
    return signed_request(delivery, endpoint, now)


def _record_expired_claim(
    session: Session, delivery: WebhookDelivery, now: dt.datetime, max_attempts: int | None
) -> None:
    claimed = delivery.lease_until or now
    session.add(
        WebhookAttempt(
            delivery_id=delivery.id,
            started_at=claimed,
            duration_ms=0,
            error="outcome unknown: the sender stopped before recording it (lease expired)",
        )
    )
    delivery.expired_claims += 1
    delivery.attempts += 1
    delivery.last_error = "outcome unknown (lease expired)"
    log.warning("webhook.lease_expired", expired_claims=delivery.expired_claims)
    if max_attempts is not None and delivery.attempts >= max_attempts:
        delivery.status, delivery.lease_until, delivery.next_attempt_at = "dead", None, None


def record_attempt(
    session: Session,
    delivery_id: int,
    result: AttemptResult,
    *,
    max_attempts: int,
    backoff: Callable[[int], dt.timedelta] | None = None,
) -> WebhookDelivery:
    """Store the attempt and the delivery's new status: delivered, retrying (due again after
    ``backoff(attempts)``, at once without one) or dead."""
    delivery = session.get(
        WebhookDelivery, delivery_id, with_for_update=True, populate_existing=True
    )
    assert delivery is not None
    session.add(
        WebhookAttempt(
            delivery_id=delivery_id,
            started_at=result.started_at,
            duration_ms=result.duration_ms,
            status_code=result.status_code,
            error=result.error and result.error[:500],
        )
    )
    delivery.attempts += 1
    delivery.last_status_code = result.status_code
    delivery.lease_until = delivery.next_attempt_at = None
    if result.ok:
        delivery.status, delivery.delivered_at, delivery.last_error = "delivered", utcnow(), None
    else:
        delivery.last_error = (result.error or f"HTTP {result.status_code}")[:500]
        delivery.status = "dead" if delivery.attempts >= max_attempts else "retrying"
        if delivery.status == "retrying":
            delivery.next_attempt_at = utcnow() + (
                backoff(delivery.attempts) if backoff else dt.timedelta(0)
            )
    return delivery


def take_due(
    session: Session, *, lease: dt.timedelta, limit: int = 500, now: dt.datetime | None = None
) -> list[int]:
    """Ids of deliveries due now (pending or retrying past their time, or ``sending`` past
    their lease), oldest due first. A retrying one becomes pending (to be sent now: an early
    copy of its delayed message no longer applies); each is postponed by ``lease`` so the next
    sweep sends it again only if this send came to nothing (a Redis wipe, a dead worker)."""
    due = WebhookDelivery.status.in_(UNFINISHED)
    return delivery_queue.take_due(
        session, WebhookDelivery, due, lease=lease, limit=min(limit, CHUNK), now=now or utcnow()
    )


# --- what support sees: deliveries not delivered, replay ---------------------------------


def undelivered(
    session: Session,
    ente_id: int | None,
    *,
    statuses: tuple[str, ...] = (),
    limit: int = 50,
    after_id: int | None = None,
) -> list[WebhookDelivery]:
    """Deliveries not delivered (pending, sending, retrying, dead; or only ``statuses``) of
    live endpoints, of one Ente or all (None), newest first (``after_id``: next page)."""
    wanted = statuses or (*UNFINISHED, "dead")
    query = (
        sa.select(WebhookDelivery)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.status.in_(wanted), WebhookEndpoint.deleted_at.is_(None))
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    if ente_id is not None:
        query = query.where(WebhookDelivery.ente_id == ente_id)
    if after_id is not None:
        query = query.where(WebhookDelivery.id < after_id)
    return list(session.scalars(query))


def dead_letters(
    session: Session, ente_id: int, *, limit: int = 50, after_id: int | None = None
) -> list[WebhookDelivery]:
    """Dead deliveries of the Ente's live endpoints, newest first (``after_id``: next page)."""
    return undelivered(session, ente_id, statuses=("dead",), limit=limit, after_id=after_id)


def find_delivery(session: Session, ente_id: int, public_id: str) -> WebhookDelivery:
    delivery = session.scalar(
        sa.select(WebhookDelivery).where(
            WebhookDelivery.ente_id == ente_id, WebhookDelivery.public_id == public_id
        )
    )
    if delivery is None:
        raise NotFound("no such webhook delivery")
    return delivery


def replay(session: Session, delivery: WebhookDelivery, *, now: dt.datetime | None = None) -> None:
    """Send a delivery that is not delivered again, now: a new round of attempts, through the
    outbox. Refused for a delivered one and for one being sent right now (live lease)."""
    now = now or utcnow()
    session.flush()  # a refresh would drop changes not flushed yet
    session.refresh(delivery, with_for_update=True)
    if delivery.status == "delivered":
        raise Conflict("the delivery was delivered", code="delivered")
    if delivery.status == "sending" and delivery.lease_until and delivery.lease_until > now:
        raise Conflict("the delivery is being sent right now", code="sending")
    endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
    if endpoint is None or not endpoint.active:
        raise Conflict("the endpoint was deleted", code="endpoint_deleted")
    delivery.status, delivery.attempts, delivery.lease_until = "pending", 0, None
    delivery.next_attempt_at = now + SCHEDULER_GRACE
    delivery.replays += 1
    outbox.enqueue(session, DELIVER_ACTOR, queue_name=QUEUE, delivery_id=delivery.id)


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
