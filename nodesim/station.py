"""The Node's client of an EC station (paForNode): paVerify, paGetPayment(V2), paSendRT(V2)."""

from __future__ import annotations

import dataclasses
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Protocol

from lxml import etree

from nodesim import soapwire
from nodesim.soapwire import PAFN, sub


@dataclasses.dataclass(frozen=True)
class StationConfig:
    url: str
    broker: str = "77777777777"
    station: str = "77777777777_01"
    primitive_version: int = 2
    verify_timeout: float = 7.0
    # (name, value) of the header every call to the station carries (pagoPA's connectivity
    # sends a subscription key, e.g. Ocp-Apim-Subscription-Key), or None
    auth_header: tuple[str, str] | None = None


def parse_header(text: str | None) -> tuple[str, str] | None:
    """``"Header-Name: value"`` -> (name, value); empty -> None; anything else is an error."""
    text = (text or "").strip()
    if not text:
        return None
    name, sep, value = text.partition(":")
    if not sep or not name.strip() or not value.strip() or " " in name.strip():
        raise ValueError(f"a station auth header must be 'Header-Name: value', not {text!r}")
    return name.strip(), value.strip()


class Reply(bytes):
    """A station's answer body with the HTTP status it came with (a transport may return
    plain bytes: that is a 200)."""

    status: int = 200

    def __new__(cls, body: bytes, status: int = 200) -> Reply:
        reply = super().__new__(cls, body)
        reply.status = status
        return reply


def status_of(raw: bytes) -> int:
    return getattr(raw, "status", 200)


@dataclasses.dataclass
class Answer:
    """What came back: ``kind`` is ok, ko, timeout, unreachable or bad_response."""

    kind: str
    element: etree._Element | None = None
    fault_code: str | None = None
    detail: str = ""
    elapsed_ms: int = 0
    http_status: int | None = None

    @property
    def ok(self) -> bool:
        return self.kind == "ok"


class Transport(Protocol):
    def __call__(
        self, url: str, action: str, payload: bytes, timeout: float, *, headers: Mapping[str, str]
    ) -> bytes: ...


def http_transport(
    url: str,
    action: str,
    payload: bytes,
    timeout: float,
    *,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """POST a SOAP request; HTTP errors still return their body (a SOAP Fault is a 500),
    with the status in ``Reply.status``."""
    request = urllib.request.Request(
        url,
        data=payload,
        method="POST",
        headers={
            **(headers or {}),
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": f'"{action}"',
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Reply(response.read(), response.status)
    except urllib.error.HTTPError as exc:
        body = exc.read()
        exc.close()
        return Reply(body, exc.code)


class StationClient:
    """Builds each request, sends it and classifies the answer; never raises for the network."""

    def __init__(self, config: StationConfig, transport: Transport = http_transport) -> None:
        self.config = config
        self.transport = transport
        # called with every Answer of a normal call (the Stand-In manager counts failures)
        self.observers: list[Callable[[Answer], None]] = []

    @property
    def headers(self) -> dict[str, str]:
        return dict([self.config.auth_header]) if self.config.auth_header else {}

    def _header(self, name: str, ec: str, station: str | None = None) -> etree._Element:
        req = soapwire.wrapper(PAFN, name)
        sub(req, "idPA", ec)
        sub(req, "idBrokerPA", self.config.broker)
        sub(req, "idStation", station or self.config.station)
        return req

    def verify_request(self, ec: str, notice: str) -> etree._Element:
        req = self._header("paVerifyPaymentNoticeReq", ec)
        _qr(req, ec, notice)
        return req

    def get_payment_request(
        self, ec: str, notice: str, amount: str, payment_note: str | None = None
    ) -> etree._Element:
        name = "paGetPaymentV2Request" if self.config.primitive_version == 2 else "paGetPaymentReq"
        req = self._header(name, ec)
        _qr(req, ec, notice)
        sub(req, "amount", soapwire.amount(amount))
        if payment_note:
            sub(req, "paymentNote", payment_note[:210])
        return req

    def send_rt_request(
        self, ec: str, receipt: etree._Element, station: str | None = None
    ) -> etree._Element:
        """paSendRT(V2); ``station`` delivers it through another idStation of the same broker
        (an Ente moved between stations: pagoPA keeps using the old one for a while)."""
        name = "paSendRTV2Request" if self.config.primitive_version == 2 else "paSendRTReq"
        req = self._header(name, ec, station)
        req.append(receipt)
        return req

    def verify(self, ec: str, notice: str) -> Answer:
        return self.call(self.verify_request(ec, notice), self.config.verify_timeout)

    def get_payment(
        self, ec: str, notice: str, amount: str, payment_note: str | None = None
    ) -> Answer:
        return self.call(
            self.get_payment_request(ec, notice, amount, payment_note), self.config.verify_timeout
        )

    def call(self, request: etree._Element, timeout: float) -> Answer:
        return self.post(soapwire.envelope(request), _action(request), timeout)

    def post(self, payload: bytes, action: str, timeout: float, *, observe: bool = True) -> Answer:
        answer, _raw = self.exchange(payload, action, timeout)
        if observe:
            for observer in self.observers:
                observer(answer)
        return answer

    def exchange(self, payload: bytes, action: str, timeout: float) -> tuple[Answer, bytes | None]:
        """Send one request with the configured headers: (classified answer, raw body)."""
        started = time.monotonic()

        def elapsed() -> int:
            return int((time.monotonic() - started) * 1000)

        try:
            raw = self.transport(self.config.url, action, payload, timeout, headers=self.headers)
        except TimeoutError as exc:
            return Answer("timeout", detail=str(exc) or "timed out", elapsed_ms=elapsed()), None
        except (OSError, urllib.error.URLError) as exc:
            if "timed out" in str(exc):
                return Answer("timeout", detail=str(exc), elapsed_ms=elapsed()), None
            return Answer("unreachable", detail=str(exc), elapsed_ms=elapsed()), None
        status = status_of(raw)
        try:
            res = soapwire.body_element(raw)
        except soapwire.BadResponse as exc:
            return Answer(
                "bad_response", detail=str(exc), elapsed_ms=elapsed(), http_status=status
            ), raw
        if soapwire.local(res) == "Fault":
            return Answer(
                "bad_response",
                res,
                detail=res.findtext("faultstring") or "Fault",
                elapsed_ms=elapsed(),
                http_status=status,
            ), raw
        outcome = res.findtext("outcome")
        if outcome == "OK":
            return Answer("ok", res, elapsed_ms=elapsed(), http_status=status), raw
        if outcome == "KO":
            return Answer(
                "ko",
                res,
                fault_code=res.findtext("fault/faultCode"),
                detail=res.findtext("fault/description") or res.findtext("fault/faultString") or "",
                elapsed_ms=elapsed(),
                http_status=status,
            ), raw
        return Answer(
            "bad_response",
            res,
            detail=f"outcome {outcome!r}",
            elapsed_ms=elapsed(),
            http_status=status,
        ), raw


def _qr(req: etree._Element, ec: str, notice: str) -> None:
    qr = sub(req, "qrCode")
    sub(qr, "fiscalCode", ec)
    sub(qr, "noticeNumber", notice)


def _action(request: etree._Element) -> str:
    name = soapwire.local(request)
    for suffix in ("Request", "Req"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name
