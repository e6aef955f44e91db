"""ACA bulk v2 (``gpd-4-aca_massive_v2.json``): large loads of new positions sent to ACA as
one file instead of one call each (hub.aca opens the upload when an Ente has more than
``payhub.aca_bulk_threshold`` never-sent positions in a sweep).

An upload (``aca_upload``) goes, one outbox message (``aca_bulk_upload``) per step:

* ``pending`` -> the file is sent (``AcaUploadApi.upload``) -> ``uploaded`` with ACA's file id;
* ``uploaded`` -> polled every ``payhub.aca_upload_poll_seconds`` (the sweep queues it again,
  ``queue_due``) until ACA's status is no longer IN_PROGRESS, then the report is applied
  position by position: 2xx: in step at the version uploaded; 409 (there already, e.g. after
  a lost 202 and a second upload): ACA has it, the sweep sends the current state with a PUT;
  any other code: the position fails, and the one-by-one feed retries it with its backoff;
* a failed call: ``failed``, retried by the sweep with hub.aca's backoff; after
  ``payhub.aca_max_attempts`` (or 4xx on the file, or a file never done after ``MAX_POLLS``
  polls) ``dead``: an Anomaly, and its positions handed back to the one-by-one feed, so none
  is lost.

A message delivered twice changes nothing: a step runs only on a ``pending`` upload. Only
positions payable with no option paid go in a file; the others are handed back to the
one-by-one feed, which also tells ACA of paid options.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy import func
from sqlalchemy.orm import Session

from hub import aca, clock, outbox
from hub.models import AcaSync, AcaUpload, Anomaly, DebtPosition, Ente, GpdPosition
from hub.positions.status import derive_status
from workflows.payment import PositionStatus as P

log = structlog.get_logger(__name__)
MAX_POLLS = 240


def queue_due(session: Session, *, poll_seconds: int) -> int:
    """Queue every upload whose poll or retry is due; return how many."""
    now = clock.now()
    uploads = session.scalars(
        sa.select(AcaUpload)
        .where(AcaUpload.state.in_(("uploaded", "failed")))
        .order_by(AcaUpload.id)
        .with_for_update(skip_locked=True)
    ).all()
    queued = 0
    for upload in uploads:
        last = upload.attempted_at or upload.created_at
        wait = (
            dt.timedelta(seconds=poll_seconds)
            if upload.state == "uploaded"
            else aca.backoff(upload.attempts)
        )
        if last + wait > now:
            continue
        upload.state = "pending"
        outbox.enqueue(session, aca.BULK_ACTOR, upload_id=upload.id)
        queued += 1
    return queued


def step(session: Session, api: aca.AcaUploadApi, upload_id: int, *, max_attempts: int) -> str:
    """Take the upload one step further (send the file, or poll it and apply its report);
    return its state afterwards. Errors are recorded on the upload, never raised."""
    upload = session.get(AcaUpload, upload_id, with_for_update=True)
    if upload is None or upload.state != "pending":
        return upload.state if upload else "missing"
    ente = session.get(Ente, upload.ente_id)
    assert ente is not None
    upload.attempted_at = clock.now()
    try:
        if upload.file_id is None:
            _send(session, api, upload, ente)
        else:
            _poll(session, api, upload, ente)
    except aca.AcaError as exc:
        upload.attempts += 1
        upload.last_error = str(exc)[:500]
        if not exc.retryable or upload.attempts >= max_attempts:
            _give_up(session, upload, ente, str(exc))
        else:
            upload.state = "failed"
        log.warning("aca.upload_failed", upload_id=upload.id, status=exc.status, state=upload.state)
    return upload.state


def _send(session: Session, api: aca.AcaUploadApi, upload: AcaUpload, ente: Ente) -> None:
    bodies: list[dict[str, Any]] = []
    kept: dict[str, int] = {}
    switched_on = aca.enabled(session, ente.id)
    for position_id, version in upload.versions.items():
        position = session.get(DebtPosition, int(position_id))
        payable = (
            switched_on
            and position is not None
            and position.version == version
            and derive_status(position.options) == P.PAYABLE
        )
        if not payable:  # changed, paid or gone meanwhile: the one-by-one feed sends it
            _hand_back(session, int(position_id))
            continue
        assert position is not None
        kept[position_id] = version
        bodies.append(aca.payload(position, session.get(GpdPosition, position.id), ente))
    upload.versions = kept  # a new dict: the JSON column sees the change
    if not bodies:
        upload.state, upload.done_at = "done", clock.now()
        return
    upload.file_id = api.upload(ente.fiscal_code, bodies)
    upload.state, upload.polls, upload.attempts = "uploaded", 0, 0
    log.info("aca.uploaded", upload_id=upload.id, positions=len(bodies))


def _poll(session: Session, api: aca.AcaUploadApi, upload: AcaUpload, ente: Ente) -> None:
    assert upload.file_id is not None
    status = api.upload_status(ente.fiscal_code, upload.file_id)
    report = None
    if status.get("operationStatus") != "IN_PROGRESS":
        report = api.upload_report(ente.fiscal_code, upload.file_id)
    if report is None:
        upload.polls += 1
        if upload.polls >= MAX_POLLS:
            _give_up(session, upload, ente, f"still in progress after {upload.polls} polls")
        else:
            upload.state = "uploaded"
        return
    _apply(session, upload, report)
    upload.state, upload.done_at, upload.last_error = "done", clock.now(), None
    log.info("aca.upload_done", upload_id=upload.id, outcome=status.get("operationStatus"))


def _apply(session: Session, upload: AcaUpload, report: dict[str, Any]) -> None:
    """Each position as the report says (absent from the report: failed)."""
    ids = {int(k): v for k, v in upload.versions.items()}
    by_iupd = dict(
        session.execute(
            sa.select(DebtPosition.iupd, DebtPosition.id).where(DebtPosition.id.in_(ids))
        ).all()
    )
    answered: dict[int, tuple[int, str]] = {}
    for entry in report.get("responses") or []:
        for iupd in entry.get("iupds") or []:
            if iupd in by_iupd:
                code = int(entry.get("statusCode") or 0)
                answered[by_iupd[iupd]] = (code, str(entry.get("statusMessage") or ""))
    now = clock.now()
    for position_id, version in ids.items():
        row = session.get(AcaSync, position_id, with_for_update=True)
        if row is None:
            continue
        code, message = answered.get(position_id, (0, "not in the upload's report"))
        if 200 <= code < 300:
            row.state, row.synced_version, row.synced_at = "synced", version, now
            row.aca_state, row.attempts, row.last_error = "valid", 0, None
        elif code == 409:  # ACA has it already (our own earlier upload): update it there
            row.state, row.synced_version, row.aca_state = "synced", None, "valid"
        else:
            row.state, row.attempts, row.attempted_at = "failed", row.attempts + 1, now
            row.last_error = f"bulk upload {upload.id}: {code} {message}"[:500]


def _hand_back(session: Session, position_id: int) -> None:
    """The position leaves the upload: the next sweep sends it one by one."""
    row = session.get(AcaSync, position_id, with_for_update=True)
    if row is not None and row.state == "pending":
        row.state, row.synced_version = "synced", None


def _give_up(session: Session, upload: AcaUpload, ente: Ente, why: str) -> None:
    upload.state = "dead"
    for position_id in upload.versions:
        _hand_back(session, int(position_id))
    session.add(
        Anomaly(
            kind="aca_upload_dead",
            ente_id=ente.id,
            detail=f"ACA bulk upload {upload.id} ({len(upload.versions)} positions) given up, "
            f"its positions go one by one: {why}"[:500],
        )
    )


@dataclass(frozen=True)
class UploadLine:
    """One upload as the dashboard lists it. The report itself is not kept: ``in_step``,
    ``refused`` and ``elsewhere`` say where its positions stand now (refused: its report
    refused them and they are still failing; elsewhere: queued again, changed since, failing
    for another reason or gone)."""

    id: int
    created_at: dt.datetime
    done_at: dt.datetime | None
    state: str  # pending, uploaded, done, failed, dead (given up)
    positions: int
    attempts: int
    last_error: str | None
    in_step: int
    refused: int

    @property
    def elsewhere(self) -> int:
        return self.positions - self.in_step - self.refused

    @property
    def given_up(self) -> bool:
        return self.state == "dead"


def recent(session: Session, ente_id: int, *, limit: int = 20) -> list[UploadLine]:
    """The Ente's latest uploads, newest first, with where their positions stand."""
    lines = []
    for upload in session.scalars(
        sa.select(AcaUpload)
        .where(AcaUpload.ente_id == ente_id)
        .order_by(AcaUpload.id.desc())
        .limit(limit)
    ):
        ids = [int(k) for k in upload.versions]
        in_step = refused = 0
        if ids:
            in_step, refused = session.execute(
                sa.select(
                    func.count().filter(AcaSync.state == "synced"),
                    func.count().filter(AcaSync.last_error.startswith(f"bulk upload {upload.id}:")),
                ).where(AcaSync.position_id.in_(ids))
            ).one()
        lines.append(
            UploadLine(
                upload.id,
                upload.created_at,
                upload.done_at,
                upload.state,
                len(ids),
                upload.attempts,
                upload.last_error,
                int(in_step),
                int(refused),
            )
        )
    return lines
