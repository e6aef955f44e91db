"""Reporting-flow ingestion and the reconciliation checks, as actors.

``poll_reporting_flows`` (scheduled) asks the Node for the flows of every Ente the station
serves and sends one ``fetch_reporting_flow`` message per flow version not stored yet. That
message's id is derived from (EC, flow id, date-time), so the unit of work's processed-message
record makes it act once however often a poll re-sends it (a flow the Node keeps listing, a
poll that ran twice). The fetch stores the flow through hub.reconciliation.flows in the message's
transaction; a flow we cannot read is kept as an ``fdr_refused`` anomaly, not retried. The
Node being unavailable raises, and Dramatiq retries with backoff.

``check_flows_without_credit`` (scheduled daily) flags flows without a bank credit after
``payhub.reconciliation_credit_days`` days (3).
"""

from __future__ import annotations

import datetime as dt
import uuid

import dramatiq
import sqlalchemy as sa
import structlog

from actors import node
from actors.middleware import current_session
from hub.errors import DomainError
from hub.models import Ente, ProcessedMessage
from hub.reconciliation import flows, statements

log = structlog.get_logger(__name__)
POLL_ACTOR = "poll_reporting_flows"
FETCH_ACTOR = "fetch_reporting_flow"
CHECK_ACTOR = "check_flows_without_credit"
QUEUE = "default"
_NAMESPACE = uuid.UUID("0f3b6a4e-2d1c-4f8e-9a57-6c1d2e3f4a5b")


def fetch_message_id(ec_fiscal_code: str, flow_id: str, flow_datetime: dt.datetime) -> str:
    when = flows.normalise_datetime(flow_datetime).isoformat()
    return str(uuid.uuid5(_NAMESPACE, f"{ec_fiscal_code}|{flow_id}|{when}"))


def _retry_when(retries: int, exc: BaseException) -> bool:
    return not isinstance(exc, DomainError) and retries < 10


@dramatiq.actor(actor_name=POLL_ACTOR, max_retries=0, time_limit=10 * 60_000)
def poll_reporting_flows() -> None:
    """List each served Ente's flows on the Node; queue a fetch for each one not stored.
    An Ente whose list fails is skipped (logged) and asked again at the next poll."""
    session = current_session()
    client = node.node_client()
    broker = dramatiq.get_broker()
    queued = 0
    for ente in flows.enti_of_station(session, client.id_station):
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
    time_limit=5 * 60_000,
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


def _xsd() -> tuple:
    return flows.schemas_from_settings(node.settings())


@dramatiq.actor(actor_name=CHECK_ACTOR, max_retries=3, time_limit=10 * 60_000)
def check_flows_without_credit() -> None:
    """Flag every flow still without a bank credit after the configured number of days."""
    days = int(
        node.settings().get("payhub.reconciliation_credit_days", statements.DEFAULT_CREDIT_DAYS)
    )
    count = statements.flows_without_credit(current_session(), days=days)
    log.info("fdr.credit_check", flagged=count)
