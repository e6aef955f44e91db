"""Activation and change requests: open one, move it (one event of
workflows.activation.ActivationFlow), read them with their history and clock.

Every change writes an ``ActivationStep`` (who, when, note) and an audit event in the caller's
transaction. Configuring a request (test or production) changes where the Ente is served
(hub.onboarding.environments); reaching "configured in test" or "configured in production"
writes an outbox message that e-mails the referente a signed link to confirm
(hub.onboarding.confirmations).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from hub import outbox
from hub.actor_names import SEND_ACTIVATION_LINK
from hub.clock import now as clock_now
from hub.errors import Conflict, DomainError, NotFound
from hub.models import (
    ActivationRequest,
    ActivationStep,
    DebtPosition,
    Ente,
    PaymentOption,
    PaymentService,
    Receipt,
)
from hub.onboarding import environments
from hub.onboarding.sla import RequestClock, in_days
from hub.tenants import audit
from workflows.activation import (
    AWAITING_REFERENTE,
    EVENTS,
    INITIAL_STATE,
    OPEN_STATES,
    PRODUCTION_EVENTS,
    TEST_EVENTS,
    ActivationFlow,
    IllegalStep,
    RequestKind,
    RequestState,
    events_from,
    mermaid,
    next_state,
)

OPEN_EVENT = "open"  # the first step's event: the request received
# what the Ente itself (its API key, its referente) may do; everything else is the
# intermediary's. ``resume`` only from waiting for the Ente (it sent what was missing).
ENTE_EVENTS = frozenset(
    {"cancel", "confirm_test", "confirm_production", "report_problem", "resume"}
)
NOTE_MAX = 2000


class StepNotAllowed(Conflict):
    """The event is not allowed in the request's state (or to whoever asked)."""

    code = "step_not_allowed"


class BadRequestInput(DomainError):
    code = "invalid_request"


def open_request(
    session: Session,
    *,
    ente: Ente,
    kind: str,
    subject: str,
    actor: str,
    service_code: str | None = None,
    complete: bool = True,
    note: str | None = None,
    now: dt.datetime | None = None,
) -> ActivationRequest:
    """Record a request of ``ente`` (received now). An incomplete one goes at once to waiting
    for the Ente: its clock starts when it is completed (``resume``). An activation is for an
    Ente (or service) not yet in production."""
    now = now or clock_now()
    if kind not in {k.value for k in RequestKind}:
        raise BadRequestInput(f"kind must be one of {', '.join(k.value for k in RequestKind)}")
    subject = (subject or "").strip()
    if not subject or len(subject) > 200:
        raise BadRequestInput("the subject must be 1 to 200 characters")
    service = None
    if service_code:
        service = session.scalar(
            sa.select(PaymentService).where(
                PaymentService.ente_id == ente.id, PaymentService.code == service_code
            )
        )
        if service is None:
            raise NotFound(f"Ente {ente.fiscal_code} has no service {service_code}")
    live = service.production if service is not None else ente.production
    if kind == RequestKind.ACTIVATION and live and _collected_real_money(session, ente, service):
        raise Conflict("already in production and collecting: open a change request")
    request = ActivationRequest(
        kind=kind,
        ente=ente,
        service=service,
        subject=subject,
        state=INITIAL_STATE,
        opened_by=actor[:100],
        created_at=now,
        updated_at=now,
    )
    session.add(request)
    request.steps.append(
        ActivationStep(
            event=OPEN_EVENT,
            from_state=None,
            to_state=INITIAL_STATE,
            actor=actor[:300],
            note=_note(note),
            at=now,
        )
    )
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="activation.open",
        target=f"activation_request:{request.id}",
        ente_id=ente.id,
        detail={"kind": kind, "service": service_code},
    )
    if not complete:
        move(session, request.id, "ask_ente", actor=actor, note="incomplete when received", now=now)
    return request


def _collected_real_money(session: Session, ente: Ente, service: PaymentService | None) -> bool:
    """Whether the Ente (the service) already received a receipt that is not a test: it is
    live, and only a change request may touch it."""
    statement = sa.select(Receipt.id).where(Receipt.ente_id == ente.id, Receipt.test.is_(False))
    if service is not None:
        statement = (
            statement.join(PaymentOption, PaymentOption.id == Receipt.option_id)
            .join(DebtPosition, DebtPosition.id == PaymentOption.position_id)
            .where(DebtPosition.service_id == service.id)
        )
    return session.scalar(statement.limit(1)) is not None


def _note(note: str | None) -> str | None:
    note = (note or "").strip()
    return note[:NOTE_MAX] or None


def get_request(session: Session, request_id: int, *, lock: bool = False) -> ActivationRequest:
    statement = (
        sa.select(ActivationRequest)
        .where(ActivationRequest.id == request_id)
        .options(selectinload(ActivationRequest.steps))
    )
    if lock:
        statement = statement.with_for_update(of=ActivationRequest)
    request = session.scalars(statement).one_or_none()
    if request is None:
        raise NotFound(f"no activation request {request_id}")
    return request


def allowed_events(request: ActivationRequest, *, ente_side: bool = False) -> tuple[str, ...]:
    """The events that can be fired on ``request`` now (by the Ente if ``ente_side``)."""
    events = []
    for event in events_from(request.state):
        if event == "resume" and not request.paused_from:
            continue
        if ente_side and (
            event not in ENTE_EVENTS
            or (event == "resume" and request.state != RequestState.WAITING_ENTE)
        ):
            continue
        events.append(event)
    return tuple(events)


def move(
    session: Session,
    request_id: int,
    event: str,
    *,
    actor: str,
    note: str | None = None,
    station_code: str | None = None,
    ente_side: bool = False,
    now: dt.datetime | None = None,
) -> ActivationStep:
    """Fire ``event`` on the request (row locked) and record the step. ``ente_side``: the
    Ente asks (its API key, its referente), who may fire only ``ENTE_EVENTS``. Raises
    NotFound, StepNotAllowed, or environments' NoStation/NotFound for a configure step."""
    now = now or clock_now()
    request = get_request(session, request_id, lock=True)
    if event not in EVENTS:
        raise StepNotAllowed(f"no such step {event!r}; steps: {', '.join(EVENTS)}")
    if ente_side and event not in allowed_events(request, ente_side=True):
        raise StepNotAllowed(f"the Ente cannot {event!r} a request that is {request.state!r}")
    from_state = request.state
    try:  # asked first: a configure step that fails leaves the request as it was
        next_state(from_state, event, paused_from=request.paused_from)
    except IllegalStep as exc:
        raise StepNotAllowed(str(exc)) from None
    station = None
    if event in TEST_EVENTS | PRODUCTION_EVENTS:
        configured = environments.configure(
            session, request, station_code, test=event in TEST_EVENTS
        )
        station = configured.station_code if configured is not None else None
    ActivationFlow(model=request, state_field="state").fire(event)
    request.updated_at = now
    step = ActivationStep(
        event=event,
        from_state=from_state,
        to_state=request.state,
        actor=actor[:300],
        note=_note(note),
        station_code=station,
        at=now,
    )
    request.steps.append(step)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action=f"activation.{event}",
        target=f"activation_request:{request.id}",
        ente_id=request.ente_id,
        detail={"from": from_state, "to": request.state, "station": station},
    )
    if request.state in AWAITING_REFERENTE:
        outbox.enqueue(session, SEND_ACTIVATION_LINK, step_id=step.id)
    return step


def list_requests(
    session: Session, *, ente_ids: set[int] | None = None, open_only: bool = False
) -> list[ActivationRequest]:
    """Requests newest first, with their steps; only those of ``ente_ids`` if given."""
    statement = (
        sa.select(ActivationRequest)
        .options(selectinload(ActivationRequest.steps), selectinload(ActivationRequest.ente))
        .order_by(ActivationRequest.created_at.desc(), ActivationRequest.id.desc())
    )
    if ente_ids is not None:
        statement = statement.where(ActivationRequest.ente_id.in_(ente_ids))
    if open_only:
        statement = statement.where(ActivationRequest.state.in_(OPEN_STATES))
    return list(session.scalars(statement))


def ente_by_code(session: Session, fiscal_code: str) -> Ente:
    ente = session.scalar(sa.select(Ente).where(Ente.fiscal_code == fiscal_code))
    if ente is None:
        raise NotFound(f"no Ente {fiscal_code}")
    return ente


def summary(request: ActivationRequest, clock: RequestClock, *, steps: bool = False) -> dict:
    """The request as JSON (the CLI's --json and the REST API): its state, the steps allowed
    now, its clock in working days; with ``steps``, its history."""
    data: dict = {
        "id": request.id,
        "kind": request.kind,
        "enteFiscalCode": request.ente.fiscal_code,
        "serviceCode": request.service.code if request.service else None,
        "subject": request.subject,
        "state": request.state,
        "pausedFrom": request.paused_from,
        "allowedSteps": list(allowed_events(request)),
        "openedBy": request.opened_by,
        "createdAt": request.created_at.isoformat(),
        "updatedAt": request.updated_at.isoformat(),
        "enteInProduction": request.ente.production,
        "clock": {
            "status": str(clock.status),
            "workingDaysUsed": str(clock.used_days),
            "workingDaysLeft": str(clock.left_days),
            "targetDays": str(in_days(clock.target, clock.calendar)),
            "running": clock.running,
            "startedAt": clock.started_at.isoformat() if clock.started_at else None,
            "dueAt": clock.due_at.isoformat() if clock.due_at else None,
        },
    }
    if steps:
        data["steps"] = [
            {
                "event": s.event,
                "fromState": s.from_state,
                "toState": s.to_state,
                "actor": s.actor,
                "note": s.note,
                "stationCode": s.station_code,
                "at": s.at.isoformat(),
            }
            for s in request.steps
        ]
    return data


def diagram() -> str:
    """The requests' machine as a mermaid diagram (workflows.activation.mermaid)."""
    return mermaid()
