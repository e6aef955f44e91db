"""Reporting-flow ingestion and the reconciliation checks, as actors.

``poll_reporting_flows`` (scheduled) asks the Node for the flows of every Ente the station
serves and sends one ``fetch_reporting_flow`` message per flow version not stored yet. That
message's id is derived from (EC, flow id, date-time), so the unit of work's processed-message
record makes it act once however often a poll re-sends it (a flow the Node keeps listing, a
poll that ran twice). The fetch stores the flow through hub.reconciliation.flows in the message's
transaction; a flow we cannot read is kept as an ``fdr_refused`` anomaly, not retried. The
Node being unavailable raises, and Dramatiq retries with backoff.

With ``payhub.reporting_source = fdr3`` the same poll asks FdR 3 instead
(hub.reconciliation.fdr3): for every Ente of every station (``payhub.reporting_stations`` to
narrow it) it lists the flows published since our checkpoint and sends one
``fetch_fdr3_flow`` per (flow, revision, PSP) not stored yet, with a message id derived from
them. A flow FdR 3 does not know or that we cannot read is an ``fdr_refused`` anomaly; FdR 3
throttled or down raises (Dramatiq retries with backoff, after the client's own retries
honouring Retry-After). An Ente that fails to list is skipped and logged; an Ente unknown here
(``fetch_fdr3_flow`` for a fiscal code we do not serve) is skipped and logged.
``poll_reporting_flows(ec_fiscal_code=...)`` polls one Ente on demand.

``recover_receipts`` (hourly, ``payhub.recovery_minutes``) registers payments stuck past their
activation and asks pagoPA's receipts service for the receipts still missing
(hub.reconciliation.recovery).

``check_flows_without_credit`` (scheduled daily) flags flows without a bank credit after
``payhub.reconciliation_credit_days`` days (3).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import dramatiq
import sqlalchemy as sa
import structlog

from actors import node
from actors.middleware import current_session
from hub import actor_names
from hub.db import utcnow
from hub.errors import DomainError
from hub.models import Ente, ProcessedMessage
from hub.reconciliation import fdr3, flows, pagopa_rest, recovery, statements

log = structlog.get_logger(__name__)
POLL_ACTOR = actor_names.POLL_REPORTING_FLOWS
FETCH_ACTOR = actor_names.FETCH_REPORTING_FLOW
FETCH_FDR3_ACTOR = actor_names.FETCH_FDR3_FLOW
RECOVER_ACTOR = actor_names.RECOVER_RECEIPTS
CHECK_ACTOR = actor_names.CHECK_FLOWS_WITHOUT_CREDIT
QUEUE = "default"
# One flow per message, stored and matched in one transaction: 100,000 payments take about
# 10 s on a quiet 2-core machine and under a minute on a busy one (docs/development/
# benchmarks.md); a legacy XML flow is parsed whole first (at most 64 MiB). 30 minutes leaves
# room for a flow many times that size and a slow Node before Dramatiq kills and retries it.
FETCH_TIME_LIMIT = 30 * 60_000
_NAMESPACE = uuid.UUID("0f3b6a4e-2d1c-4f8e-9a57-6c1d2e3f4a5b")


def fetch_message_id(ec_fiscal_code: str, flow_id: str, flow_datetime: dt.datetime) -> str:
    when = flows.normalise_datetime(flow_datetime).isoformat()
    return str(uuid.uuid5(_NAMESPACE, f"{ec_fiscal_code}|{flow_id}|{when}"))


def _retry_when(retries: int, exc: BaseException) -> bool:
    return not isinstance(exc, DomainError) and retries < 10


def fdr3_message_id(ec_fiscal_code: str, fdr: str, revision: int, psp_id: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"fdr3|{ec_fiscal_code}|{fdr}|{revision}|{psp_id}"))


@dramatiq.actor(actor_name=POLL_ACTOR, max_retries=0, time_limit=10 * 60_000)
def poll_reporting_flows(ec_fiscal_code: str | None = None) -> None:
    """List each served Ente's flows (FdR 3 or the Node, per ``payhub.reporting_source``);
    queue a fetch for each one not stored. An Ente whose list fails is skipped (logged) and
    asked again at the next poll. ``ec_fiscal_code`` polls that Ente only (on demand)."""
    session = current_session()
    if node.settings().reporting_source == "fdr3":
        _poll_fdr3(session, ec_fiscal_code)
        return
    client = node.node_client()
    broker = dramatiq.get_broker()
    queued = 0
    for ente in flows.enti_of_station(session, client.id_station):
        if ec_fiscal_code and ente.fiscal_code != ec_fiscal_code:
            continue
        try:
            refs = client.list_flows(ente.fiscal_code)
        except node.NodeError as exc:
            log.warning("fdr.list_failed", ente=ente.fiscal_code, fault_code=exc.fault_code)
            continue
        stored = flows.stored_versions(session, ente.id, (r.flow_id for r in refs))
        for ref in refs:
            when = flows.normalise_datetime(ref.date)
            if (ref.flow_id, when) in stored:
                continue
            message_id = fetch_message_id(ente.fiscal_code, ref.flow_id, when)
            if session.get(ProcessedMessage, message_id) is not None:
                continue  # fetched before, and refused: an anomaly is open for it
            broker.enqueue(
                dramatiq.Message(
                    queue_name=QUEUE,
                    actor_name=FETCH_ACTOR,
                    args=(),
                    kwargs={
                        "ec_fiscal_code": ente.fiscal_code,
                        "flow_id": ref.flow_id,
                        "psp": ref.psp,
                    },
                    options={},
                    message_id=message_id,
                )
            )
            queued += 1
    log.info("fdr.polled", queued=queued)


@dramatiq.actor(
    actor_name=FETCH_ACTOR,
    queue_name=QUEUE,
    retry_when=_retry_when,
    min_backoff=30_000,
    max_backoff=3_600_000,
    time_limit=FETCH_TIME_LIMIT,
)
def fetch_reporting_flow(ec_fiscal_code: str, flow_id: str, psp: str | None = None) -> None:
    """Fetch one flow from the Node and store it (idempotent: a stored version is a no-op)."""
    session = current_session()
    structlog.contextvars.bind_contextvars(ente=ec_fiscal_code, flow_id=flow_id)
    client = node.node_client()
    served = {e.id for e in flows.enti_of_station(session, client.id_station)}
    try:
        xml = client.get_flow(flow_id, ec_fiscal_code, psp)
        outcome = flows.store_flow(session, xml, xsd=_xsd(), served_ente_ids=served)
    except (DomainError, node.UnknownFlow, node.BadNodeResponse) as exc:
        # retrying cannot help: the Node does not know the flow, or sent one we cannot read
        ente_id = session.scalar(sa.select(Ente.id).where(Ente.fiscal_code == ec_fiscal_code))
        flows.flag_refused_flow(session, ente_id, flow_id, str(exc))
        log.warning("fdr.refused", reason=str(exc)[:200])
        return
    log.info(
        "fdr.fetched",
        created=outcome.created,
        reported=outcome.reported,
        anomalies=len(outcome.anomalies),
    )


def _poll_fdr3(session: Any, ec_fiscal_code: str | None) -> None:
    api = pagopa_rest.fdr_api(node.settings())
    size = node.settings().fdr3_page_size
    stations = list(node.settings().reporting_stations)
    enti = flows.enti_to_poll(session, stations)
    if ec_fiscal_code:
        enti = [e for e in enti if e.fiscal_code == ec_fiscal_code]
        if not enti:
            log.warning("fdr3.unknown_ente", ente=ec_fiscal_code)
    broker = dramatiq.get_broker()
    queued = 0
    for ente in enti:

        def done(ref: fdr3.FlowRevision, ec: str = ente.fiscal_code) -> bool:
            message_id = fdr3_message_id(ec, ref.fdr, ref.revision, ref.psp_id)
            return session.get(ProcessedMessage, message_id) is not None

        try:
            with session.begin_nested():
                pending = fdr3.pending_flows(session, api, ente, done=done, size=size)
        except pagopa_rest.RestError as exc:
            log.warning("fdr3.list_failed", ente=ente.fiscal_code, error=str(exc)[:200])
            continue
        for ref in pending:
            broker.enqueue(
                dramatiq.Message(
                    queue_name=QUEUE,
                    actor_name=FETCH_FDR3_ACTOR,
                    args=(),
                    kwargs={
                        "ec_fiscal_code": ente.fiscal_code,
                        "fdr": ref.fdr,
                        "revision": ref.revision,
                        "psp_id": ref.psp_id,
                        "published": ref.published.isoformat(),
                    },
                    options={},
                    message_id=fdr3_message_id(ente.fiscal_code, ref.fdr, ref.revision, ref.psp_id),
                )
            )
            queued += 1
    log.info("fdr3.polled", enti=len(enti), queued=queued)


@dramatiq.actor(
    actor_name=FETCH_FDR3_ACTOR,
    queue_name=QUEUE,
    retry_when=_retry_when,
    min_backoff=30_000,
    max_backoff=3_600_000,
    time_limit=FETCH_TIME_LIMIT,
)
def fetch_fdr3_flow(
    ec_fiscal_code: str, fdr: str, revision: int, psp_id: str, published: str | None = None
) -> None:
    """Fetch one FdR 3 flow revision with its payments and store it (idempotent)."""
    session = current_session()
    structlog.contextvars.bind_contextvars(ente=ec_fiscal_code, flow_id=fdr, revision=revision)
    ente = session.scalars(sa.select(Ente).where(Ente.fiscal_code == ec_fiscal_code)).first()
    if ente is None:
        log.warning("fdr3.unknown_ente")
        return
    api = pagopa_rest.fdr_api(node.settings())
    size = node.settings().fdr3_page_size
    try:
        fdr3.ingest_flow(
            session,
            api,
            ente,
            fdr,
            revision,
            psp_id,
            published_at=pagopa_rest.parse_instant(published) if published else None,
            size=size,
        )
    except (DomainError, pagopa_rest.NotFound) as exc:
        flows.flag_refused_flow(session, ente.id, f"{fdr} revision {revision}", str(exc))
        log.warning("fdr3.refused", reason=str(exc)[:200])
    except pagopa_rest.RestError as exc:
        if isinstance(exc, pagopa_rest.RateLimited | pagopa_rest.ServiceUnavailable):
            raise  # Dramatiq retries with backoff
        flows.flag_refused_flow(session, ente.id, f"{fdr} revision {revision}", str(exc))
        log.warning("fdr3.refused", reason=str(exc)[:200])


@dramatiq.actor(actor_name=RECOVER_ACTOR, max_retries=0, time_limit=30 * 60_000)
def recover_receipts() -> None:
    """Register payments stuck past their activation, then ask pagoPA's receipts service for
    every receipt due (budget, 429 and give-up rules in hub.reconciliation.recovery)."""
    session = current_session()
    config = node.settings()
    max_age = config.recovery_max_age_days
    now = utcnow()
    recovery.find_stuck(
        session,
        now=now,
        stuck_minutes=config.recovery_stuck_minutes,
        max_age_days=max_age,
    )
    recovery.run_due(
        session,
        pagopa_rest.receipts_api(config),
        now=now,
        budget=config.recovery_daily_budget,
        retry_minutes=config.recovery_retry_minutes,
        max_age_days=max_age,
        batch=config.recovery_batch,
        iur_unknown_hours=config.recovery_iur_unknown_hours,
    )


def _xsd() -> tuple:
    return flows.schemas_from_settings(node.settings())


@dramatiq.actor(actor_name=CHECK_ACTOR, max_retries=3, time_limit=10 * 60_000)
def check_flows_without_credit() -> None:
    """Flag every flow still without a bank credit after the configured number of days."""
    days = node.settings().reconciliation_credit_days
    count = statements.flows_without_credit(current_session(), days=days)
    log.info("fdr.credit_check", flagged=count)
