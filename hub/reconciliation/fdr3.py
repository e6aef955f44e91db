"""FdR 3 ingestion: which flows to fetch for an Ente (with our checkpoint), and fetching one.

``pending_flows`` lists the Ente's published flows with ``publishedGt`` = our checkpoint
(``fdr_checkpoint``: without it FdR 3 goes back only to the start of the previous month), page
by page (size <= 1000), and returns the (flow, revision, PSP) not stored yet. The checkpoint
moves to the newest ``published`` before which every listed flow is stored or refused, so a
flow that failed is listed again at the next poll, and a restart loses nothing.

``ingest_flow`` fetches one revision and stores it through hub.reconciliation.flows
(idempotent per flow id, revision, PSP), its payments asked for a page at a time as the store
takes them (``payment_pages``): a page is read, written and matched before the next is asked
for, so memory does not grow with the flow; a revision already stored asks for no page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from hub.db import utcnow
from hub.models import Ente, FdrCheckpoint, ReportingFlow
from hub.reconciliation import flows
from hub.reconciliation.pagopa_rest import MAX_PAGE_SIZE, FdrApi, parse_instant

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class FlowRevision:
    """One entry of FdR 3's list (FlowByPSP)."""

    fdr: str
    revision: int
    psp_id: str
    published: dt.datetime  # aware UTC

    def key(self) -> tuple[str, int, str]:
        return (self.fdr, self.revision, self.psp_id)


def checkpoint(session: Session, ente_id: int) -> dt.datetime | None:
    return session.scalar(
        sa.select(FdrCheckpoint.published_gt).where(FdrCheckpoint.ente_id == ente_id)
    )


def list_published(
    api: FdrApi, organization_id: str, published_gt: dt.datetime | None, size: int = MAX_PAGE_SIZE
) -> list[FlowRevision]:
    """Every flow published for the organization after ``published_gt``, all pages."""
    found: list[FlowRevision] = []
    page = 1
    while True:
        answer = api.list_flows(organization_id, published_gt=published_gt, page=page, size=size)
        for item in answer.get("data") or ():
            found.append(
                FlowRevision(
                    fdr=str(item["fdr"]),
                    revision=int(item["revision"]),
                    psp_id=str(item["pspId"]),
                    published=parse_instant(str(item["published"])),
                )
            )
        total = int((answer.get("metadata") or {}).get("totPage") or 1)
        if page >= total or not answer.get("data"):
            return found
        page += 1


def pending_flows(
    session: Session,
    api: FdrApi,
    ente: Ente,
    *,
    done: Callable[[FlowRevision], bool] = lambda ref: False,
    size: int = MAX_PAGE_SIZE,
    now: dt.datetime | None = None,
) -> list[FlowRevision]:
    """The flows to fetch for ``ente``; moves its checkpoint past the ones already handled
    (stored, or ``done`` says so: refused and flagged). Raises pagopa_rest errors."""
    now = now or utcnow()
    since = checkpoint(session, ente.id)
    refs = sorted(
        list_published(api, ente.fiscal_code, since, size), key=lambda r: (r.published, r.key())
    )
    stored = _stored_revisions(session, ente.id, {r.fdr for r in refs})
    pending = [r for r in refs if r.key() not in stored and not done(r)]
    first_pending = min((r.published for r in pending), default=None)
    handled = [r.published for r in refs if first_pending is None or r.published < first_pending]
    _move_checkpoint(session, ente.id, max(handled, default=None), now)
    log.info("fdr3.listed", ente=ente.fiscal_code, listed=len(refs), pending=len(pending))
    return pending


def _stored_revisions(
    session: Session, ente_id: int, flow_ids: set[str]
) -> set[tuple[str, int, str]]:
    if not flow_ids:
        return set()
    found: set[tuple[str, int, str]] = set()
    ids = sorted(flow_ids)
    for start in range(0, len(ids), 500):
        rows = session.execute(
            sa.select(ReportingFlow.flow_id, ReportingFlow.revision, ReportingFlow.psp_id).where(
                ReportingFlow.ente_id == ente_id,
                ReportingFlow.revision.is_not(None),
                ReportingFlow.flow_id.in_(ids[start : start + 500]),
            )
        ).all()
        found.update((f, int(r or 0), p) for f, r, p in rows)
    return found


def _move_checkpoint(
    session: Session, ente_id: int, published: dt.datetime | None, now: dt.datetime
) -> None:
    row = session.scalars(
        sa.select(FdrCheckpoint).where(FdrCheckpoint.ente_id == ente_id).with_for_update()
    ).one_or_none()
    if row is None:
        row = FdrCheckpoint(ente_id=ente_id, updated_at=now)
        session.add(row)
    row.polled_at = now
    if published is not None and (row.published_gt is None or published > row.published_gt):
        row.published_gt = published
        row.updated_at = now
    session.flush()


def payment_pages(
    api: FdrApi, organization_id: str, fdr: str, revision: int, psp_id: str, size: int
) -> Iterator[list[dict[str, Any]]]:
    """The payments of one flow revision, a page at a time, each asked for when needed."""
    page = 1
    while True:
        answer = api.get_payments(organization_id, fdr, revision, psp_id, page=page, size=size)
        data = list(answer.get("data") or ())
        if data:
            yield data
        total = int((answer.get("metadata") or {}).get("totPage") or 1)
        if page >= total or not data:
            return
        page += 1


def ingest_flow(
    session: Session,
    api: FdrApi,
    ente: Ente,
    fdr: str,
    revision: int,
    psp_id: str,
    *,
    published_at: dt.datetime | None = None,
    served_ente_ids: set[int] | None = None,
    size: int = MAX_PAGE_SIZE,
    now: dt.datetime | None = None,
) -> flows.FlowOutcome:
    """Fetch and store one FdR 3 flow revision. Raises pagopa_rest errors (ask again later),
    flows.InvalidFlow / FlowRefused (retrying cannot help: the caller flags it)."""
    flow = api.get_flow(ente.fiscal_code, fdr, revision, psp_id)
    receiver = (flow.get("receiver") or {}).get("organizationId")
    if receiver not in (None, ente.fiscal_code):
        raise flows.FlowRefused(f"flow {fdr} names EC {receiver}, asked for {ente.fiscal_code}")
    outcome = flows.store_fdr3_pages(  # the payments read page by page as they come
        session,
        flow,
        payment_pages(api, ente.fiscal_code, fdr, revision, psp_id, size),
        revision=revision,
        published_at=published_at,
        served_ente_ids=served_ente_ids,
        now=now,
    )
    log.info(
        "fdr3.stored",
        ente=ente.fiscal_code,
        flow_id=fdr,
        revision=revision,
        created=outcome.created,
        entries=outcome.flow.computed_count,
        reported=outcome.reported,
        anomalies=len(outcome.anomalies),
    )
    return outcome
