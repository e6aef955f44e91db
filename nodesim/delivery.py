"""The Node's paSendRT delivery: first attempt, re-sends with backoff, every attempt recorded.

A receipt is re-sent after a timeout, an unreachable station, a response that is not a valid
answer, or a KO other than PAA_RECEIPT_DUPLICATA; OK and PAA_RECEIPT_DUPLICATA end it. After
``max_attempts`` it stays ``exhausted`` (pagoPA support can restart it: ``retry``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

from lxml import etree

from nodesim import soapwire
from nodesim.clock import SimClock
from nodesim.station import Answer, StationClient

DUPLICATE = "PAA_RECEIPT_DUPLICATA"
# final states
DELIVERED, DUPLICATE_ANSWER, EXHAUSTED = "delivered", "duplicate", "exhausted"
# waiting states
SCHEDULED, RETRYING = "scheduled", "retrying"


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    timeout_seconds: float = 15.0
    max_attempts: int = 5
    backoff_seconds: float = 2.0
    backoff_factor: float = 2.0
    backoff_max_seconds: float = 3600.0

    def wait_after(self, attempt: int) -> dt.timedelta:
        """How long to wait after failed attempt number ``attempt`` (1-based)."""
        seconds = self.backoff_seconds * self.backoff_factor ** (attempt - 1)
        return dt.timedelta(seconds=min(seconds, self.backoff_max_seconds))


@dataclasses.dataclass
class Attempt:
    number: int
    at: dt.datetime
    result: str  # ok, ko, timeout, unreachable, bad_response
    fault_code: str | None
    detail: str
    elapsed_ms: int
    copy: bool = False  # a deliberate duplicate (fault injection), not a retry

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "at": self.at.isoformat(),
            "result": self.result,
            "faultCode": self.fault_code,
            "detail": self.detail[:300],
            "elapsedMs": self.elapsed_ms,
            "copy": self.copy,
        }


@dataclasses.dataclass
class Delivery:
    receipt_id: str
    ec: str
    notice_number: str
    payload: bytes  # the whole paSendRT(V2) envelope, identical on every attempt
    next_at: dt.datetime
    status: str = SCHEDULED
    attempts: list[Attempt] = dataclasses.field(default_factory=list)
    copies_left: int = 0
    timeout_seconds: float | None = None
    busy: bool = False
    station: str | None = None  # the idStation it is delivered through

    @property
    def retries(self) -> int:
        return sum(1 for a in self.attempts if not a.copy)

    def as_dict(self) -> dict[str, Any]:
        return {
            "receiptId": self.receipt_id,
            "fiscalCode": self.ec,
            "noticeNumber": self.notice_number,
            "idStation": self.station,
            "status": self.status,
            "nextAttemptAt": self.next_at.isoformat()
            if self.status in (SCHEDULED, RETRYING)
            else None,
            "attempts": [a.as_dict() for a in self.attempts],
        }


class Deliverer:
    """Holds every receipt the Node must deliver; ``run_due`` sends what is due."""

    def __init__(self, client: StationClient, clock: SimClock, policy: RetryPolicy) -> None:
        self.client = client
        self.clock = clock
        self.policy = policy
        self._lock = threading.Lock()
        self._deliveries: dict[str, Delivery] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # other timers the background thread runs (the Stand-In manager's probe)
        self.tickers: list[Callable[[], int]] = []

    def submit(
        self,
        receipt_id: str,
        ec: str,
        notice: str,
        request: etree._Element,
        *,
        hold_seconds: float = 0.0,
        copies: int = 0,
        timeout_seconds: float | None = None,
        send_now: bool = True,
    ) -> Delivery:
        """Queue a receipt; unless held back, make the first attempt now, in this thread."""
        delivery = Delivery(
            receipt_id,
            ec,
            notice,
            soapwire.envelope(request),
            next_at=self.clock.now() + dt.timedelta(seconds=hold_seconds),
            copies_left=copies,
            timeout_seconds=timeout_seconds,
            station=request.findtext("idStation"),
        )
        with self._lock:
            self._deliveries[receipt_id] = delivery
        if send_now and hold_seconds <= 0:
            self._attempt(delivery)
        return delivery

    def get(self, receipt_id: str) -> Delivery | None:
        with self._lock:
            return self._deliveries.get(receipt_id)

    def all(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries.values())

    def retry(self, receipt_id: str) -> Delivery:
        """Restart an exhausted delivery (what pagoPA support does on request)."""
        delivery = self.get(receipt_id)
        if delivery is None:
            raise KeyError(receipt_id)
        with self._lock:
            if delivery.status == EXHAUSTED:
                delivery.status = RETRYING
                delivery.next_at = self.clock.now()
        self._attempt(delivery)
        return delivery

    def run_due(self) -> int:
        """Send every delivery whose time has come; return how many attempts were made."""
        now = self.clock.now()
        with self._lock:
            due = [
                d
                for d in self._deliveries.values()
                if d.status in (SCHEDULED, RETRYING) and d.next_at <= now and not d.busy
            ]
        return sum(self._attempt(d) for d in due)

    def _attempt(self, delivery: Delivery) -> int:
        with self._lock:
            if delivery.busy or delivery.status not in (SCHEDULED, RETRYING):
                return 0
            delivery.busy = True
        try:
            answer = self._send(delivery)
            number = delivery.retries + 1
            delivery.attempts.append(_attempt(number, self.clock.now(), answer))
            with self._lock:
                if answer.ok:
                    delivery.status = DELIVERED
                elif answer.kind == "ko" and answer.fault_code == DUPLICATE:
                    delivery.status = DUPLICATE_ANSWER
                elif number >= self.policy.max_attempts:
                    delivery.status = EXHAUSTED
                else:
                    delivery.status = RETRYING
                    delivery.next_at = self.clock.now() + self.policy.wait_after(number)
            if delivery.status in (DELIVERED, DUPLICATE_ANSWER):
                self._send_copies(delivery)
            return 1
        finally:
            delivery.busy = False

    def _send_copies(self, delivery: Delivery) -> None:
        while delivery.copies_left > 0:
            delivery.copies_left -= 1
            answer = self._send(delivery)
            delivery.attempts.append(
                _attempt(len(delivery.attempts) + 1, self.clock.now(), answer, copy=True)
            )

    def _send(self, delivery: Delivery) -> Answer:
        action = "paSendRTV2" if self.client.config.primitive_version == 2 else "paSendRT"
        timeout = delivery.timeout_seconds or self.policy.timeout_seconds
        return self.client.post(delivery.payload, action, timeout)

    # background sender (the standalone server and the mounted demo; tests may call run_due)
    def start(self, poll_seconds: float = 0.2) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._loop, args=(poll_seconds,), name="nodesim-delivery", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _loop(self, poll_seconds: float) -> None:
        while not self._stop.wait(poll_seconds):
            self.run_due()
            for tick in self.tickers:
                tick()


def _attempt(number: int, at: dt.datetime, answer: Answer, copy: bool = False) -> Attempt:
    return Attempt(
        number, at, answer.kind, answer.fault_code, answer.detail, answer.elapsed_ms, copy=copy
    )
