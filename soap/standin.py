"""pagoPA's Stand-In probe, answered as pagoPA's Stand-In manager requires.

While the Node holds a station in Stand-In (pagoPA answering for our notices from its own
archive), pagoPA's Stand-In manager sends it, every 5 minutes, a paVerifyPaymentNotice for
notice ``000000000000000000`` of EC ``00000000000`` (idBrokerPA and idStation are our codes, or
the template's literal ``{idBrokerPA}``/``{idStation}``), and counts a success only for HTTP 2xx
whose body contains ``SCONOSCIUTO`` (pagopa/pagopa-stand-in-manager, ``ForwarderClient``). The
station goes back into service after an hour of successes. So the probe is answered
``PAA_PAGAMENTO_SCONOSCIUTO``, HTTP 200, before any caller check (it reveals nothing), and
recorded: the table says when pagoPA last considered us in Stand-In. The record is the probe's
round trip to the database: with the database down the answer is PAA_SYSTEM_ERROR, so pagoPA
keeps us in Stand-In until we can really answer.
"""

from __future__ import annotations

import structlog

from hub.db import utcnow
from hub.tenants.stations import record_standin_probe
from soap import responses
from soap.faults import Ko, system_error

log = structlog.get_logger("soap.paForNode")

OPERATION = "standInProbe"  # how the SLA figures count it, apart from paVerifyPaymentNotice
EC = "00000000000"
NOTICE = "000000000000000000"
_MARKERS = (NOTICE.encode(), b"paVerifyPaymentNoticeReq")


def may_be_probe(body: bytes) -> bool:
    """A cheap look at the raw bytes: could this be the probe? (Only then is a request from a
    caller we do not know parsed at all.)"""
    return len(body) < 8192 and all(marker in body for marker in _MARKERS)


def is_probe(request) -> bool:
    """The paVerifyPaymentNoticeReq element is the Stand-In manager's probe."""
    qr = request.find("qrCode")
    return (
        qr is not None
        and (qr.findtext("noticeNumber") or "").strip() == NOTICE
        and (qr.findtext("fiscalCode") or "").strip() == EC
        and (request.findtext("idPA") or "").strip() == EC
    )


def answer(request, element, wrapper: str) -> bytes:
    station = (element.findtext("idStation") or "").strip()
    broker = (element.findtext("idBrokerPA") or "").strip()
    try:
        record_standin_probe(
            request.registry["db.engine"], station_code=station, broker_code=broker, now=utcnow()
        )
    except Exception as exc:  # the database is not there: not ready to leave Stand-In
        log.error("soap.standin_probe_failed", error=type(exc).__name__, station=station[:64])
        return responses.ko(wrapper, system_error(), EC)
    log.info("soap.standin_probe", station=station[:64], broker=broker[:64])
    return responses.ko(
        wrapper, Ko("PAA_PAGAMENTO_SCONOSCIUTO", "Stand-In probe: no such notice"), EC
    )
