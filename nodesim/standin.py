"""pagoPA's Stand-In manager, simulated.

A station goes "in Stand-In" on demand (``enter``, ``POST /api/standin``) or, when
``after_failures`` is set, after that many failed calls in a row (timeout, unreachable, a bad
response or PAA_SYSTEM_ERROR). While it is, the Node answers for it from its archive (the
notices it verified and activated before: pagoPA's ACA) and its receipts say
``standIn=true``; every ``probe_seconds`` of simulated time the manager sends the probe of
pagopa-stand-in-manager's ``ForwarderClient`` (a paVerifyPaymentNotice for EC 00000000000,
notice 000000000000000000, with the literal ``{idBrokerPA}``/``{idStation}`` placeholders
unless ``placeholders`` is off). A probe succeeds only on HTTP 2xx with ``SCONOSCIUTO`` in the
body; after ``exit_successes`` successes in a row (pagoPA counts a window of them) the
station leaves Stand-In. Every probe and every switch is recorded (``as_dict``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from typing import Any

from lxml import etree

from nodesim import soapwire
from nodesim.clock import SimClock
from nodesim.soapwire import PAFN, sub
from nodesim.station import Answer, StationClient, status_of

PROBE_EC = "00000000000"
PROBE_NOTICE = "000000000000000000"
SUCCESS_MARK = b"SCONOSCIUTO"
# answers that count as a station failure (what makes pagoPA switch a station to Stand-In)
FAILED_KINDS = {"timeout", "unreachable", "bad_response"}
SYSTEM_ERROR = "PAA_SYSTEM_ERROR"


@dataclasses.dataclass(frozen=True)
class StandInPolicy:
    probe_seconds: float = 300.0
    exit_successes: int = 3
    after_failures: int = 0  # 0: only on demand
    placeholders: bool = True  # the literal {idBrokerPA}/{idStation}, as pagoPA sends them


@dataclasses.dataclass
class Probe:
    number: int
    at: dt.datetime
    trigger: str  # schedule or demand
    result: str  # the station's answer: ok, ko, timeout, unreachable, bad_response
    http_status: int | None
    success: bool
    fault_code: str | None
    detail: str
    elapsed_ms: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "at": self.at.isoformat(),
            "trigger": self.trigger,
            "result": self.result,
            "httpStatus": self.http_status,
            "success": self.success,
            "faultCode": self.fault_code,
            "detail": self.detail[:300],
            "elapsedMs": self.elapsed_ms,
        }


class StandIn:
    """The station's Stand-In state, its probes and its switches."""

    def __init__(
        self, client: StationClient, clock: SimClock, policy: StandInPolicy | None = None
    ) -> None:
        self.client = client
        self.clock = clock
        self.policy = policy or StandInPolicy()
        self._lock = threading.Lock()
        self._probing = threading.Lock()
        self.active = False
        self.since: dt.datetime | None = None
        self.reason: str | None = None
        self.successes = 0  # successful probes in a row while in Stand-In
        self.failures = 0  # failed station calls in a row
        self.next_probe_at: dt.datetime | None = None
        self.probes: list[Probe] = []
        self.switches: list[dict[str, Any]] = []
        client.observers.append(self.observe)

    # switching
    def enter(self, reason: str = "on demand") -> dict[str, Any]:
        with self._lock:
            if not self.active:
                now = self.clock.now()
                self.active, self.since, self.reason, self.successes = True, now, reason, 0
                self.next_probe_at = now + dt.timedelta(seconds=self.policy.probe_seconds)
                self.switches.append({"at": now.isoformat(), "to": "standin", "reason": reason})
        return self.as_dict()

    def leave(self, reason: str = "on demand") -> dict[str, Any]:
        with self._lock:
            self._leave(reason)
        return self.as_dict()

    def _leave(self, reason: str) -> None:
        if self.active:
            self.active, self.since, self.reason, self.next_probe_at = False, None, None, None
            self.failures = 0
            self.switches.append(
                {"at": self.clock.now().isoformat(), "to": "normal", "reason": reason}
            )

    def observe(self, answer: Answer) -> None:
        """Every ordinary call to the station (not the probes): count failures in a row."""
        failed = answer.kind in FAILED_KINDS or (
            answer.kind == "ko" and answer.fault_code == SYSTEM_ERROR
        )
        with self._lock:
            self.failures = self.failures + 1 if failed else 0
            limit = self.policy.after_failures
            trip = bool(limit) and failed and self.failures >= limit and not self.active
        if trip:
            self.enter(f"{limit} failed calls in a row (last: {answer.fault_code or answer.kind})")

    # probing
    def probe_request(self) -> etree._Element:
        cfg = self.client.config
        req = soapwire.wrapper(PAFN, "paVerifyPaymentNoticeReq")
        sub(req, "idPA", PROBE_EC)
        sub(req, "idBrokerPA", "{idBrokerPA}" if self.policy.placeholders else cfg.broker)
        sub(req, "idStation", "{idStation}" if self.policy.placeholders else cfg.station)
        qr = sub(req, "qrCode")
        sub(qr, "fiscalCode", PROBE_EC)
        sub(qr, "noticeNumber", PROBE_NOTICE)
        return req

    def probe(self, trigger: str = "demand") -> Probe:
        """Send the probe now and record it; in Stand-In, count it towards leaving."""
        with self._probing:
            answer, raw = self.client.exchange(
                soapwire.envelope(self.probe_request()),
                "paVerifyPaymentNotice",
                self.client.config.verify_timeout,
            )
            status = status_of(raw) if raw is not None else None
            success = (
                raw is not None
                and status is not None
                and 200 <= status < 300
                and SUCCESS_MARK in raw
            )
            with self._lock:
                probe = Probe(
                    len(self.probes) + 1,
                    self.clock.now(),
                    trigger,
                    answer.kind,
                    status,
                    success,
                    answer.fault_code,
                    answer.detail,
                    answer.elapsed_ms,
                )
                self.probes.append(probe)
                if self.active:
                    self.successes = self.successes + 1 if success else 0
                    if self.successes >= self.policy.exit_successes:
                        self._leave(f"{self.successes} successful probe(s) in a row")
            return probe

    def _due(self) -> bool:
        return (
            self.active
            and self.next_probe_at is not None
            and self.next_probe_at <= self.clock.now()
        )

    def run_due(self, catch_up: int = 10) -> int:
        """The manager's timer: send the probes that came due while the station is in
        Stand-In (after a jump of the clock, at most ``catch_up`` of them, then the next one
        is a period from now); return how many were sent."""
        period = dt.timedelta(seconds=self.policy.probe_seconds)
        sent = 0
        while sent < catch_up:
            with self._lock:  # claim the slot: a concurrent timer does not probe it too
                if not self._due():
                    break
                self.next_probe_at += period
            self.probe("schedule")
            sent += 1
        with self._lock:
            if self._due():
                self.next_probe_at = self.clock.now() + period
        return sent

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "active": self.active,
                "since": self.since and self.since.isoformat(),
                "reason": self.reason,
                "successesInARow": self.successes,
                "exitSuccesses": self.policy.exit_successes,
                "probeSeconds": self.policy.probe_seconds,
                "afterFailures": self.policy.after_failures,
                "failuresInARow": self.failures,
                "nextProbeAt": self.next_probe_at and self.next_probe_at.isoformat(),
                "probes": [p.as_dict() for p in self.probes],
                "switches": list(self.switches),
            }
