"""The referente's confirmation: when a request reaches "configured in test" or "configured in
production", the Ente's referente gets an e-mail (hub.mail) with a signed link (hub.signing,
expiring after ``payhub.link_max_age_days``) to a public page where they confirm that it works,
or report a problem. Either answer is a step of the request, recorded with its time and the
referente's address as actor.

A link names the step that configured the request: once the request has moved on (confirmed,
problem reported, configured again), that link only says it is no longer awaited.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import structlog
from sqlalchemy.orm import Session

from hub import mail, signing
from hub.config import Config
from hub.errors import Conflict, NotFound
from hub.models import ActivationRequest, ActivationStep
from hub.onboarding import requests
from workflows.activation import RequestState

log = structlog.get_logger(__name__)

PURPOSE = "activation-confirm"
# the public page (web.ops.activation registers it under /ops)
CONFIRM_PATH = "/ops/activation/confirm/{token}"
_CONFIRM_EVENT = {
    RequestState.CONFIGURED_TEST: "confirm_test",
    RequestState.CONFIGURED_PRODUCTION: "confirm_production",
}


class LinkNoLongerAwaited(Conflict):
    code = "link_no_longer_awaited"


@dataclass(frozen=True)
class Awaited:
    """What a valid link asks the referente to confirm."""

    request: ActivationRequest
    step: ActivationStep
    environment: str  # "test" | "production"


def token_for(config: Config, step: ActivationStep) -> str:
    return signing.make_token(config, PURPOSE, {"r": step.request_id, "s": step.id})


def link_for(config: Config, step: ActivationStep) -> str:
    if not config.public_url:
        raise mail.MailError("public_url is not set: no link can be written")
    return config.public_url.rstrip("/") + CONFIRM_PATH.format(token=token_for(config, step))


def awaited(session: Session, config: Config, token: str) -> Awaited:
    """The request and step a link is for, if still awaiting the referente. Raises
    signing.BadLink (not ours, expired), NotFound, LinkNoLongerAwaited."""
    payload = signing.read_token(config, PURPOSE, token)
    try:
        request_id, step_id = int(payload["r"]), int(payload["s"])
    except (KeyError, TypeError, ValueError):
        raise signing.BadLink("this link is not valid") from None
    request = requests.get_request(session, request_id)
    step = next((s for s in request.steps if s.id == step_id), None)
    if step is None:
        raise NotFound("this link names no step of the request")
    if request.steps[-1].id != step.id or request.state not in _CONFIRM_EVENT:
        raise LinkNoLongerAwaited("this configuration is no longer awaiting confirmation")
    environment = "test" if request.state == RequestState.CONFIGURED_TEST else "production"
    return Awaited(request, step, environment)


def answer(
    session: Session,
    config: Config,
    token: str,
    *,
    problem: str | None = None,
    now: dt.datetime | None = None,
) -> ActivationStep:
    """The referente confirms (``problem`` None) or reports ``problem``: a step of the
    request (row locked) recorded now, with the referente as actor."""
    found = awaited(session, config, token)
    request = requests.get_request(session, found.request.id, lock=True)
    if request.steps[-1].id != found.step.id:
        raise LinkNoLongerAwaited("this configuration is no longer awaiting confirmation")
    who = f"referente:{request.ente.referente_email or request.ente.fiscal_code}"
    if problem is not None:
        return requests.move(
            session, request.id, "report_problem", actor=who, note=problem, ente_side=True, now=now
        )
    event = _CONFIRM_EVENT[RequestState(request.state)]
    return requests.move(session, request.id, event, actor=who, ente_side=True, now=now)


def send_link(session: Session, config: Config, step_id: int) -> bool:
    """E-mail the referente the link for ``step_id`` (run by the outbox actor). False, and
    nothing sent, when the request has moved on or the Ente names no referente e-mail;
    MailError to be retried."""
    step = session.get(ActivationStep, step_id)
    if step is None:
        return False
    request = step.request
    if request.steps[-1].id != step.id or request.state not in _CONFIRM_EVENT:
        return False
    ente = request.ente
    if not ente.referente_email:
        log.warning("activation.no_referente", request_id=request.id, ente=ente.fiscal_code)
        return False
    link = link_for(config, step)
    environment_it, environment_en = (
        ("collaudo (ambiente di test)", "test environment")
        if request.state == RequestState.CONFIGURED_TEST
        else ("esercizio (produzione)", "production")
    )
    name = ente.referente_name or ""
    subject = (
        f"Richiesta {request.id} di {ente.name}: conferma la configurazione in {environment_it}"
        f" / please confirm the {environment_en} configuration"
    )
    text = (
        f"Gentile {name},\n\n"
        f"la richiesta n. {request.id} ({request.subject}) dell'ente {ente.name} è stata "
        f"configurata in {environment_it}. Verifica che funzioni e conferma, oppure segnala un "
        f"problema, da questa pagina:\n\n{link}\n\n"
        f"Il collegamento scade tra {config.link_max_age_days} giorni.\n\n"
        "---\n\n"
        f"Dear {name},\n\n"
        f"request no. {request.id} ({request.subject}) of {ente.name} has been configured in "
        f"the {environment_en}. Please check that it works and confirm, or report a problem, "
        f"on this page:\n\n{link}\n\n"
        f"The link expires in {config.link_max_age_days} days.\n"
    )
    mail.send(config, to=[ente.referente_email], subject=subject, text=text)
    log.info("activation.link_sent", request_id=request.id, step_id=step.id)
    return True
