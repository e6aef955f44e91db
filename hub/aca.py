"""The ACA feed: positions of the Enti switched on are kept in step with pagoPA's ACA
(Archivio Centralizzato Avvisi, ``gpd-4-aca.json``), so that pagoPA can collect them while our
station is in Stand-In, with every transfer (not one IBAN as ``paCreatePosition``).

How it stays in step (never lost, idempotent, retried, dead-lettered):

* ``queue_out_of_step`` (the ``aca_sweep`` actor, every ``payhub.aca_sync_seconds``) finds each
  published position of an Ente switched on (``aca_ente``) whose version is not the one ACA
  last got (``aca_sync``), and writes an outbox message for it in the same transaction;
* ``sync_position`` (the ``aca_sync_position`` actor) sends the position's *current* state,
  whatever the message: created and published there (POST ``?toPublish=true``; a 409, it is
  there already: PUT), changed (PUT), cancelled or expired (``invalidate``), options paid at our
  station (``paymentoptions/paids/{nav}``: ACA must not collect them again). Answers that mean
  "already so" (409 on invalidate or paid, 404 on invalidate) count as done, so a message
  delivered twice changes nothing;
* a failed send is recorded (``failed``, attempts, the error) and queued again by the sweep
  with exponential backoff; after ``payhub.aca_max_attempts`` the position is ``dead``
  (an Anomaly for support) until it changes again or support requeues it.

Positions never published are not sent: ACA is for paying in Stand-In.

Large loads (more never-sent positions of one Ente in a sweep than
``payhub.aca_bulk_threshold``) go as one file through bulk v2 (``gpd-4-aca_massive_v2.json``,
``AcaUploadClient``): ``open_upload`` here, the rest in hub.aca_bulk.
"""

from __future__ import annotations

import datetime as dt
import importlib
import io
import json
import operator
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import requests
import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from hub import actor_names, clock, http, outbox
from hub.config import Config, as_config
from hub.models import (
    AcaEnte,
    AcaSync,
    AcaUpload,
    Anomaly,
    DebtPosition,
    Ente,
    GpdPosition,
    station_ente,
)
from hub.positions import gpd_json
from hub.positions.status import derive_status
from hub.values import anomaly_details
from workflows.payment import PAID_STATES
from workflows.payment import PositionStatus as P

log = structlog.get_logger(__name__)
SYNC_ACTOR = actor_names.ACA_SYNC_POSITION
SWEEP_ACTOR = actor_names.ACA_SWEEP
BULK_ACTOR = actor_names.ACA_BULK_UPLOAD
READ_ONLY = ("status", "paymentDate", "fee", "notificationFee")  # never sent to ACA
LIVE = {P.PAYABLE, P.IN_PROGRESS, P.PARTIALLY_PAID}
SETTLED = {P.PAID, P.REPORTED, P.RECONCILED}
GONE = {P.CANCELLED, P.EXPIRED}


class AcaError(Exception):
    """ACA answered ``status`` (None: no answer). ``retryable``: 429, 5xx, no answer."""

    def __init__(self, message: str, status: int | None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status == 429 or self.status >= 500


class AcaApi(Protocol):
    def create(self, ec: str, body: dict[str, Any]) -> None: ...
    def update(self, ec: str, iupd: str, body: dict[str, Any]) -> None: ...
    def invalidate(self, ec: str, iupd: str) -> None: ...
    def paid(self, ec: str, nav: str, when: dt.datetime) -> None: ...


@dataclass
class AcaClient:
    """gpd-4-aca.json over HTTP: the subscription key in ``Ocp-Apim-Subscription-Key``."""

    base_url: str
    key: str | None
    timeout: float = 30.0
    verify: str | bool = True
    session: requests.Session | None = None

    @classmethod
    def from_settings(cls, config: Config) -> AcaClient:
        if not config.aca_url:
            raise AcaError("payhub.aca_url is not set", None)
        return cls(
            config.aca_url.rstrip("/"),
            config.aca_key,
            timeout=config.pagopa_rest_timeout_seconds,
            verify=http.verify_setting(config),
        )

    def _call(self, method: str, path: str, body: Any = None, **params: str) -> int:
        return self._request(method, path, json=body, params=params or None).status_code

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One call; an answer of 300 or more raises AcaError with its status."""
        headers = {"Accept": "application/json"}
        if self.key:
            headers["Ocp-Apim-Subscription-Key"] = self.key
        s = self.session or requests.Session()
        s.trust_env = False
        try:
            response = s.request(
                method,
                self.base_url + path,
                headers=headers,
                timeout=self.timeout,
                verify=self.verify,
                allow_redirects=False,
                **kwargs,
            )
        except requests.RequestException as exc:
            raise AcaError(f"{method} {path}: {type(exc).__name__}", None) from None
        finally:
            if self.session is None:
                s.close()
        if response.status_code >= 300:
            detail = response.text[:200].replace("\n", " ")
            raise AcaError(
                f"{method} {path}: {response.status_code} {detail}", response.status_code
            )
        return response

    def create(self, ec: str, body: dict[str, Any]) -> None:
        self._call("POST", f"/organizations/{ec}/debtpositions", body, toPublish="true")

    def update(self, ec: str, iupd: str, body: dict[str, Any]) -> None:
        self._call("PUT", f"/organizations/{ec}/debtpositions/{iupd}", body, toPublish="true")

    def invalidate(self, ec: str, iupd: str) -> None:
        self._call("POST", f"/organizations/{ec}/debtpositions/{iupd}/invalidate")

    def paid(self, ec: str, nav: str, when: dt.datetime) -> None:
        body = {"paymentDate": clock.local(when).isoformat()}
        self._call("POST", f"/organizations/{ec}/paymentoptions/paids/{nav}", body)


class AcaUploadApi(Protocol):
    def upload(self, ec: str, positions: list[dict[str, Any]]) -> str: ...
    def upload_status(self, ec: str, file_id: str) -> dict[str, Any]: ...
    def upload_report(self, ec: str, file_id: str) -> dict[str, Any] | None: ...


@dataclass
class AcaUploadClient(AcaClient):
    """gpd-4-aca_massive_v2.json over HTTP, as broker ``broker``. The document leaves the file
    unspecified; pagoPA's service (pagopa-gpd-upload) takes a zip whose first ``.json`` entry
    is ``{"paymentPositions": [PaymentPositionModel...]}`` and answers 202 with the status's
    address in ``Location`` (``.../file/{file-id}/status``)."""

    broker: str = ""

    @classmethod
    def from_settings(cls, config: Config) -> AcaUploadClient:
        broker = config.aca_broker_code or config.node_id_broker_pa
        if not config.aca_upload_url or not broker:
            raise AcaError("payhub.aca_upload_url or payhub.aca_broker_code is not set", None)
        return cls(
            config.aca_upload_url.rstrip("/"),
            config.aca_key,
            timeout=config.pagopa_rest_timeout_seconds,
            verify=http.verify_setting(config),
            broker=broker,
        )

    def _files(self, ec: str) -> str:
        return f"/brokers/{self.broker}/organizations/{ec}/debtpositions/file"

    def upload(self, ec: str, positions: list[dict[str, Any]]) -> str:
        """Send positions to be created; return the file id ACA gave the upload."""
        content = io.BytesIO()
        with zipfile.ZipFile(content, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("debt-positions.json", json.dumps({"paymentPositions": positions}))
        files = {"file": ("debt-positions.zip", content.getvalue(), "application/zip")}
        response = self._request("POST", self._files(ec), files=files)
        parts = response.headers.get("Location", "").rstrip("/").split("/")
        if len(parts) < 2 or parts[-1] != "status" or not parts[-2]:
            raise AcaError(f"POST {self._files(ec)}: 202 without the file's Location", None)
        return parts[-2]

    def upload_status(self, ec: str, file_id: str) -> dict[str, Any]:
        """``UploadStatus``: operationStatus IN_PROGRESS, COMPLETED, COMPLETED_WITH_WARNINGS..."""
        return dict(self._request("GET", f"{self._files(ec)}/{file_id}/status").json())

    def upload_report(self, ec: str, file_id: str) -> dict[str, Any] | None:
        """``UploadReportDTO`` (responses: statusCode, statusMessage, iupds); None: 425, not
        ready yet."""
        try:
            return dict(self._request("GET", f"{self._files(ec)}/{file_id}/report").json())
        except AcaError as exc:
            if exc.status == 425:
                return None
            raise


def aca_upload_api(settings: Config | Mapping[str, Any]) -> AcaUploadApi:
    """The bulk client: ``payhub.aca_client_factory``'s object if set (tests) and it can
    upload, else AcaUploadClient."""
    config = as_config(settings)
    if config.aca_client_factory:
        api = aca_api(config)
        if hasattr(api, "upload"):
            return api  # type: ignore[return-value]
    return AcaUploadClient.from_settings(config)


def aca_api(settings: Config | Mapping[str, Any]) -> AcaApi:
    """The client named by ``payhub.aca_client_factory`` if set (tests), else AcaClient."""
    config = as_config(settings)
    named = config.aca_client_factory
    if named:
        module, _, name = named.partition(":")
        return operator.attrgetter(name)(importlib.import_module(module))(config)  # type: ignore[no-any-return]
    return AcaClient.from_settings(config)


# --- the switch -------------------------------------------------------------------------------


def set_enabled(session: Session, ente: Ente, enabled: bool) -> None:
    """Switch the ACA feed on or off for ``ente`` (on: every published position follows)."""
    row = session.get(AcaEnte, ente.id)
    if row is None:
        session.add(AcaEnte(ente_id=ente.id, enabled=enabled, changed_at=clock.now()))
    elif row.enabled != enabled:
        row.enabled, row.changed_at = enabled, clock.now()


# --- what is out of step ------------------------------------------------------------------------


def backoff(attempts: int) -> dt.timedelta:
    """Wait before the next try after ``attempts`` failures: 30 s doubling, at most 1 hour."""
    return dt.timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


def queue_out_of_step(
    session: Session, *, limit: int = 1000, bulk_threshold: int | None = None
) -> int:
    """Write an ``aca_sync_position`` message for each position that needs one; return how
    many. Idempotent: a position already queued (pending) is not queued twice.

    With ``bulk_threshold``, an Ente with more never-sent positions than that in this sweep
    gets them as one bulk upload instead (``open_upload``), counted as one message."""
    now = clock.now()
    served = sa.select(station_ente.c.ente_id).where(station_ente.c.ente_id == DebtPosition.ente_id)
    rows = session.execute(
        sa.select(DebtPosition.id, DebtPosition.version, DebtPosition.ente_id, AcaSync)
        .join(AcaEnte, sa.and_(AcaEnte.ente_id == DebtPosition.ente_id, AcaEnte.enabled))
        .outerjoin(AcaSync, AcaSync.position_id == DebtPosition.id)
        .where(
            DebtPosition.published_at.is_not(None),
            served.exists(),
            sa.or_(
                AcaSync.position_id.is_(None),
                AcaSync.synced_version.is_(None),
                AcaSync.synced_version != DebtPosition.version,
                AcaSync.state == "failed",
            ),
            sa.or_(AcaSync.state.is_(None), AcaSync.state != "pending"),
        )
        .order_by(DebtPosition.id)
        .limit(limit)
        .with_for_update(of=DebtPosition, skip_locked=True)
    ).all()
    fresh: dict[int, dict[int, int]] = {}  # ente -> never-sent position -> version
    for position_id, version, ente_id, row in rows:
        if row is None:
            fresh.setdefault(ente_id, {})[position_id] = version
    bulk = {
        ente_id: versions
        for ente_id, versions in fresh.items()
        if bulk_threshold is not None and len(versions) > bulk_threshold
    }
    queued = 0
    for position_id, version, ente_id, row in rows:
        if row is None and ente_id in bulk:
            continue
        if row is None:
            row = AcaSync(position_id=position_id, attempts=0, aca_state="absent", paid_told=[])
            session.add(row)
        elif row.state == "failed" and (row.attempted_at or now) + backoff(row.attempts) > now:
            continue
        elif row.state == "dead":
            if row.queued_version == version:
                continue  # gave up on this version: support requeues it (requeue)
            row.attempts = 0
        row.state, row.queued_version = "pending", version
        outbox.enqueue(session, SYNC_ACTOR, position_id=position_id)
        queued += 1
    for ente_id, versions in bulk.items():
        open_upload(session, ente_id, versions)
        queued += 1
    return queued


def open_upload(session: Session, ente_id: int, versions: dict[int, int]) -> AcaUpload:
    """One bulk upload of never-sent positions (id -> version), queued through the outbox
    (``aca_bulk_upload``, hub.aca_bulk); its positions are pending meanwhile, so that no
    sweep sends them one by one too."""
    for position_id, version in versions.items():
        session.add(
            AcaSync(
                position_id=position_id,
                state="pending",
                queued_version=version,
                attempts=0,
                aca_state="absent",
                paid_told=[],
            )
        )
    upload = AcaUpload(
        ente_id=ente_id,
        state="pending",
        versions={str(k): v for k, v in versions.items()},
        attempts=0,
        polls=0,
    )
    session.add(upload)
    session.flush()
    outbox.enqueue(session, BULK_ACTOR, upload_id=upload.id)
    return upload


def requeue(session: Session, position_id: int) -> bool:
    """Support: send a dead (or failed) position again now."""
    row = session.get(AcaSync, position_id, with_for_update=True)
    if row is None or row.state not in ("dead", "failed"):
        return False
    row.state, row.attempts = "pending", 0
    outbox.enqueue(session, SYNC_ACTOR, position_id=position_id)
    return True


# --- sending ------------------------------------------------------------------------------------


def payload(position: DebtPosition, gpd: GpdPosition | None, ente: Ente) -> dict[str, Any]:
    """The position as ACA's ``PaymentPositionModel`` (GPD v1's), read-only fields left out."""
    body = gpd_json.position_v1(
        position, gpd, {}, response=False, ente_code=ente.fiscal_code, ente_name=ente.name
    )
    for key in READ_ONLY:
        body.pop(key, None)
    for option in body["paymentOption"]:
        for key in READ_ONLY:
            option.pop(key, None)
    return body


def sync_position(session: Session, api: AcaApi, position_id: int, *, max_attempts: int) -> str:
    """Send the position's current state to ACA; return the row's state afterwards."""
    row = session.get(AcaSync, position_id, with_for_update=True)
    position = session.get(DebtPosition, position_id)
    if row is None or position is None:
        return "missing"
    ente = session.get(Ente, position.ente_id)
    assert ente is not None
    switch = session.get(AcaEnte, ente.id)
    if switch is None or not switch.enabled:
        row.state = "synced"  # switched off meanwhile: nothing to send
        return row.state
    version = position.version
    row.attempted_at = clock.now()
    try:
        _send(session, api, row, position, ente)
    except AcaError as exc:
        row.attempts += 1
        row.last_error = str(exc)[:500]
        row.state = "dead" if row.attempts >= max_attempts else "failed"
        row.queued_version = version
        log.warning("aca.sync_failed", position_id=position_id, status=exc.status, state=row.state)
        if row.state == "dead":
            session.add(
                Anomaly(
                    kind="aca_sync_dead",
                    ente_id=ente.id,
                    detail=anomaly_details.detail(
                        "aca_sync_dead",
                        position=position.iupd,
                        attempts=row.attempts,
                        error=str(exc),
                    ),
                )
            )
        return row.state
    row.state, row.synced_version, row.synced_at = "synced", version, clock.now()
    row.attempts, row.last_error = 0, None
    return row.state


def _send(session: Session, api: AcaApi, row: AcaSync, position: DebtPosition, ente: Ente) -> None:
    status = derive_status(position.options)
    ec, iupd = ente.fiscal_code, position.iupd
    if status in LIVE:
        body = payload(position, session.get(GpdPosition, position.id), ente)
        if row.aca_state == "absent":
            try:
                api.create(ec, body)
            except AcaError as exc:
                if exc.status != 409:  # there already (an earlier answer lost): replace it
                    raise
                api.update(ec, iupd, body)
        else:
            try:
                api.update(ec, iupd, body)
            except AcaError as exc:
                if exc.status != 404:  # gone there: create it again
                    raise
                api.create(ec, body)
        row.aca_state = "valid"
    if status in GONE and row.aca_state == "valid":
        try:
            api.invalidate(ec, iupd)
        except AcaError as exc:
            if exc.status not in (404, 409):  # not there, or not valid there: done
                raise
        row.aca_state = "invalid"
    if row.aca_state != "absent":
        told = set(row.paid_told or [])
        for option in position.options:
            if option.status in PAID_STATES and option.notice_number not in told:
                try:
                    api.paid(ec, option.notice_number, option.paid_at or clock.now())
                except AcaError as exc:
                    if exc.status not in (404, 409):  # unknown there, or paid there already
                        raise
                told.add(option.notice_number)
        row.paid_told = sorted(told)


# --- the dashboard's figures ------------------------------------------------------------------


@dataclass(frozen=True)
class AcaShare:
    """KPI B.4: of the published positions of the Enti switched on, how many ACA has as they are."""

    positions: int
    in_step: int
    failed: int
    dead: int

    @property
    def share(self) -> float | None:
        return None if self.positions == 0 else self.in_step / self.positions


def share(session: Session, ente_ids: list[int] | None = None) -> AcaShare:
    query = (
        sa.select(
            sa.func.count(DebtPosition.id),
            sa.func.count(AcaSync.position_id).filter(
                AcaSync.state == "synced", AcaSync.synced_version == DebtPosition.version
            ),
            sa.func.count(AcaSync.position_id).filter(AcaSync.state == "failed"),
            sa.func.count(AcaSync.position_id).filter(AcaSync.state == "dead"),
        )
        .join(AcaEnte, sa.and_(AcaEnte.ente_id == DebtPosition.ente_id, AcaEnte.enabled))
        .outerjoin(AcaSync, AcaSync.position_id == DebtPosition.id)
        .where(DebtPosition.published_at.is_not(None))
    )
    if ente_ids is not None:
        query = query.where(DebtPosition.ente_id.in_(ente_ids))
    total, in_step, failed, dead = session.execute(query).one()
    return AcaShare(total, in_step, failed, dead)


@dataclass(frozen=True)
class PositionSync:
    """One row of the dashboard's ACA page."""

    position_id: int
    iupd: str
    status: str
    version: int
    state: str  # in_step, pending, failed, dead, not_sent, behind
    aca_state: str
    attempts: int
    last_error: str | None
    synced_at: dt.datetime | None


def positions(session: Session, ente_id: int, *, limit: int = 100) -> list[PositionSync]:
    """The Ente's published positions, latest first, with where each stands with ACA."""
    rows = session.execute(
        sa.select(DebtPosition, AcaSync)
        .outerjoin(AcaSync, AcaSync.position_id == DebtPosition.id)
        .where(DebtPosition.ente_id == ente_id, DebtPosition.published_at.is_not(None))
        .order_by(DebtPosition.id.desc())
        .limit(limit)
    ).all()
    out = []
    for position, row in rows:
        if row is None:
            state = "not_sent"
        elif row.state == "synced":
            state = "in_step" if row.synced_version == position.version else "behind"
        else:
            state = row.state
        out.append(
            PositionSync(
                position.id,
                position.iupd,
                position.status,
                position.version,
                state,
                row.aca_state if row else "absent",
                row.attempts if row else 0,
                row.last_error if row else None,
                row.synced_at if row else None,
            )
        )
    return out


def enabled(session: Session, ente_id: int) -> bool:
    row = session.get(AcaEnte, ente_id)
    return bool(row and row.enabled)
