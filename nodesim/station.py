"""The Node's client of an EC station (paForNode): paVerify, paGetPayment(V2), paSendRT(V2)."""

from __future__ import annotations

import dataclasses
import time
import urllib.error
import urllib.request
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


@dataclasses.dataclass
class Answer:
    """What came back: ``kind`` is ok, ko, timeout, unreachable or bad_response."""

    kind: str
    element: etree._Element | None = None
    fault_code: str | None = None
    detail: str = ""
    elapsed_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.kind == "ok"


class Transport(Protocol):
    def __call__(self, url: str, action: str, payload: bytes, timeout: float) -> bytes: ...


def http_transport(url: str, action: str, payload: bytes, timeout: float) -> bytes:
    """POST a SOAP request; HTTP errors still return their body (a SOAP Fault is a 500)."""
    request = urllib.request.Request(url, data=payload, method="POST", headers={
        "Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{action}"'})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        body = exc.read()
        exc.close()
        return body


class StationClient:
    """Builds each request, sends it and classifies the answer; never raises for the network."""

    def __init__(self, config: StationConfig, transport: Transport = http_transport) -> None:
        self.config = config
        self.transport = transport

    def _header(self, name: str, ec: str) -> etree._Element:
        req = soapwire.wrapper(PAFN, name)
        sub(req, "idPA", ec)
        sub(req, "idBrokerPA", self.config.broker)
        sub(req, "idStation", self.config.station)
        return req

    def verify_request(self, ec: str, notice: str) -> etree._Element:
        req = self._header("paVerifyPaymentNoticeReq", ec)
        _qr(req, ec, notice)
        return req

    def get_payment_request(self, ec: str, notice: str, amount: str,
                            payment_note: str | None = None) -> etree._Element:
        name = "paGetPaymentV2Request" if self.config.primitive_version == 2 else "paGetPaymentReq"
        req = self._header(name, ec)
        _qr(req, ec, notice)
        sub(req, "amount", soapwire.amount(amount))
        if payment_note:
            sub(req, "paymentNote", payment_note[:210])
        return req

    def send_rt_request(self, ec: str, receipt: etree._Element) -> etree._Element:
        name = "paSendRTV2Request" if self.config.primitive_version == 2 else "paSendRTReq"
        req = self._header(name, ec)
        req.append(receipt)
        return req

    def verify(self, ec: str, notice: str) -> Answer:
        return self.call(self.verify_request(ec, notice), self.config.verify_timeout)

    def get_payment(self, ec: str, notice: str, amount: str,
                    payment_note: str | None = None) -> Answer:
        return self.call(self.get_payment_request(ec, notice, amount, payment_note),
                         self.config.verify_timeout)

    def call(self, request: etree._Element, timeout: float) -> Answer:
        return self.post(soapwire.envelope(request), _action(request), timeout)

    def post(self, payload: bytes, action: str, timeout: float) -> Answer:
        started = time.monotonic()

        def elapsed() -> int:
            return int((time.monotonic() - started) * 1000)

        try:
            raw = self.transport(self.config.url, action, payload, timeout)
        except TimeoutError as exc:
            return Answer("timeout", detail=str(exc) or "timed out", elapsed_ms=elapsed())
        except (OSError, urllib.error.URLError) as exc:
            if "timed out" in str(exc):
                return Answer("timeout", detail=str(exc), elapsed_ms=elapsed())
            return Answer("unreachable", detail=str(exc), elapsed_ms=elapsed())
        try:
            res = soapwire.body_element(raw)
        except soapwire.BadResponse as exc:
            return Answer("bad_response", detail=str(exc), elapsed_ms=elapsed())
        if soapwire.local(res) == "Fault":
            return Answer("bad_response", res, detail=res.findtext("faultstring") or "Fault",
                          elapsed_ms=elapsed())
        outcome = res.findtext("outcome")
        if outcome == "OK":
            return Answer("ok", res, elapsed_ms=elapsed())
        if outcome == "KO":
            return Answer("ko", res, fault_code=res.findtext("fault/faultCode"),
                          detail=res.findtext("fault/description")
                          or res.findtext("fault/faultString") or "", elapsed_ms=elapsed())
        return Answer("bad_response", res, detail=f"outcome {outcome!r}", elapsed_ms=elapsed())


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
