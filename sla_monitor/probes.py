"""Availability probes: the station called over HTTP as the Node calls it, and /health.

Every ``payhub.sla_probe_seconds`` the scheduler enqueues ``sla_probe_station``, which posts a
paVerifyPaymentNotice for a configured probe notice to the station's public URL and GETs
/health, each with a short timeout, and stores one ``sla_probe`` row per call. A verify probe
is ok when the answer is HTTP 200 with an ``outcome``: OK, or KO with a business fault (the
probe notice may have been paid or have expired: the station still answered); not with
``PAA_SYSTEM_ERROR``, a SOAP Fault, a timeout or a refused connection. Availability over a
period is ok probes / probes.

Settings (all optional):
  payhub.sla_probe_seconds           how often (default 60; 0 = never)
  payhub.sla_probe_url               the station's public URL (default payhub.soap_public_url;
                                     neither set = no verify probe)
  payhub.sla_probe_notice            "idPA idBrokerPA idStation noticeNumber" of a notice kept
                                     payable for probing; empty: pagoPA's Stand-In probe
                                     request (EC 00000000000, notice 000000000000000000),
                                     answered before any caller check, a success when the
                                     answer is HTTP 200 with SCONOSCIUTO, as pagoPA judges it
  payhub.sla_probe_health_url        default: none
  payhub.sla_probe_timeout_seconds   default 5
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

import requests
import sqlalchemy as sa
import structlog
from lxml import etree
from sqlalchemy.orm import Session

from hub.config import Config, as_config
from hub.db import utcnow
from hub.models.sla import SlaProbe
from hub.sla.availability import pruned_probes
from hub.tenants.stations import SLA_PROBE_STATION_CODE

log = structlog.get_logger(__name__)

ENVELOPE = (
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:pafn="http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd"><soapenv:Body>'
    "<pafn:paVerifyPaymentNoticeReq><idPA>{pa}</idPA><idBrokerPA>{broker}</idBrokerPA>"
    "<idStation>{station}</idStation><qrCode><fiscalCode>{pa}</fiscalCode>"
    "<noticeNumber>{notice}</noticeNumber></qrCode></pafn:paVerifyPaymentNoticeReq>"
    "</soapenv:Body></soapenv:Envelope>"
)


# pagoPA's Stand-In probe (soap.standin), sent with broker and station codes of our own so that
# the Stand-In figures (hub.tenants.stations.standin_probes) can tell it from pagoPA's; its
# success is KO PAA_PAGAMENTO_SCONOSCIUTO (a business fault: the station answered)
STANDIN_PROBE_CODE = SLA_PROBE_STATION_CODE
STANDIN_ENVELOPE = ENVELOPE.format(
    pa="00000000000",
    broker=STANDIN_PROBE_CODE,
    station=STANDIN_PROBE_CODE,
    notice="000000000000000000",
).encode()


@dataclass(frozen=True)
class ProbeConfig:
    station_url: str | None = None
    verify_body: bytes | None = None
    health_url: str | None = None
    timeout: float = 5.0
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_settings(cls, settings: Config | dict[str, Any]) -> ProbeConfig:
        """ValueError if ``payhub.sla_probe_notice`` is not four fields."""
        config = as_config(settings)
        notice = config.sla_probe_notice.split()
        body = STANDIN_ENVELOPE
        if notice:
            if len(notice) != 4:
                raise ValueError("payhub.sla_probe_notice: idPA idBrokerPA idStation noticeNumber")
            pa, broker, station, number = (escape(x) for x in notice)
            body = ENVELOPE.format(pa=pa, broker=broker, station=station, notice=number).encode()
        headers = [
            ("Content-Type", "text/xml; charset=utf-8"),
            ("SOAPAction", "paVerifyPaymentNotice"),
        ]
        auth = config.soap_auth_header
        if ":" in auth:  # the station refuses callers without it: so would the probe
            name, _, secret = auth.partition(":")
            headers.append((name.strip(), secret.strip()))
        return cls(
            station_url=config.sla_probe_url or config.soap_public_url or None,
            verify_body=body,
            health_url=config.sla_probe_health_url or None,
            timeout=config.sla_probe_timeout_seconds,
            headers=tuple(headers),
        )


def verify_outcome(body: bytes) -> str | None:
    """None if ``body`` is a usable paVerify answer, else why not (for ``sla_probe.error``)."""
    try:
        root = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return "not XML"
    outcome = root.findtext(".//outcome")
    if outcome == "OK":
        return None
    if outcome == "KO":
        code = root.findtext(".//faultCode") or "KO without faultCode"
        return None if code != "PAA_SYSTEM_ERROR" else code
    return "SOAP Fault" if root.find(".//{*}Fault") is not None else "no outcome"


def probe_once(
    target: str, url: str, config: ProbeConfig, http: Any = requests, now: dt.datetime | None = None
) -> SlaProbe:
    """Call ``url`` once and describe what happened (no database)."""
    at = now or utcnow()
    started = time.perf_counter()
    error: str | None
    try:
        if target == "verify":
            answer = http.post(
                url, data=config.verify_body, headers=dict(config.headers), timeout=config.timeout
            )
        else:
            answer = http.get(url, timeout=config.timeout)
        if answer.status_code != 200:
            error = f"HTTP {answer.status_code}"
        else:
            error = verify_outcome(answer.content) if target == "verify" else None
    except requests.RequestException as exc:
        error = type(exc).__name__
    ms = (time.perf_counter() - started) * 1000
    return SlaProbe(
        at=at,
        target=target,
        ok=error is None,
        ms=round(ms, 2),
        error=error[:200] if error else None,
    )


def run_probes(factory: Any, config: ProbeConfig, http: Any = requests) -> list[SlaProbe]:
    """Probe every configured target, then store the results in one short transaction."""
    targets = []
    if config.station_url and config.verify_body:
        targets.append(("verify", config.station_url))
    if config.health_url:
        targets.append(("health", config.health_url))
    probes = [probe_once(target, url, config, http) for target, url in targets]
    if probes:
        with factory() as session, session.begin():
            session.add_all(probes)
    for probe in probes:
        if not probe.ok:
            log.warning("sla.probe_failed", target=probe.target, error=probe.error, ms=probe.ms)
    return probes


def availability(
    session: Session, start: dt.datetime, end: dt.datetime
) -> dict[str, tuple[int, int]]:
    """Per target: (ok probes, probes) in [start, end); a pruned day (hub.sla.retention)
    counts one probe per minute that had any."""
    rows = session.execute(
        sa.select(SlaProbe.target, sa.func.count(), sa.func.count().filter(SlaProbe.ok.is_(True)))
        .where(SlaProbe.at >= start, SlaProbe.at < end)
        .group_by(SlaProbe.target)
    )
    counts = {target: [int(ok), int(total)] for target, total, ok in rows}
    for _at, target, ok in pruned_probes(session, start, end):
        count = counts.setdefault(target, [0, 0])
        count[0] += ok
        count[1] += 1
    return {target: (ok, total) for target, (ok, total) in counts.items()}


def run_forever(
    factory: Any,
    config: ProbeConfig,
    interval: float,
    *,
    stop: Any = None,
    http: Any = requests,
    clock: Any = time.time,
) -> None:
    """``payhub probe``: probe every ``interval`` seconds, at instants aligned on the
    interval (so one probe falls in every slot of that length), until ``stop`` (a
    threading.Event) is set. A probe whose results cannot be stored (the database away) is
    logged and lost: its slot stays unknown, never up."""
    import threading

    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            run_probes(factory, config, http)
        except Exception as exc:  # the database is away: this slot is unknown
            log.error("sla.probe_not_stored", error=type(exc).__name__)
        now = clock()
        stop.wait(interval - (now % interval))
