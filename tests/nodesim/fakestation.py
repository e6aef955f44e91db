"""A fake EC station for nodesim's unit tests: checks every request nodesim sends against the
official paForNode.xsd, answers from a small table of notices, and plays scripted paSendRT
outcomes (ok, a KO code, timeout, unreachable, garbage). With ``auth_header`` set it answers
403 and a SOAP Fault to a call without it; ``tolerant`` skips the XSD check for receipts
(pagoPA's receipts carry elements newer than the XSD)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from lxml import etree

from nodesim import soapwire
from nodesim.soapwire import PAFN, SOAP11, sub
from nodesim.station import Reply

EC = "77777777777"
OTHER_EC = "00112233445"


@dataclasses.dataclass
class FakeNotice:
    amount: str
    transfers: list[tuple[str, str, str]]  # (amount, fiscalCodePA, IBAN)
    iuv: str


NOTICES = {
    "301000000000000144": FakeNotice(
        "30.00",
        [
            ("20.00", EC, "IT60X0542811101000000123456"),
            ("10.00", OTHER_EC, "IT94I0306909606100000063416"),
        ],
        "01000000000000144",
    ),
    "301000000000000245": FakeNotice(
        "41.50", [("41.50", EC, "IT60X0542811101000000123456")], "01000000000000245"
    ),
    "301000000000000346": FakeNotice(
        "12.00", [("12.00", EC, "IT60X0542811101000000123456")], "01000000000000346"
    ),
}


class FakeStation:
    def __init__(self, xsd: etree.XMLSchema, version: int = 2) -> None:
        self.xsd = xsd
        self.version = version
        self.requests: list[etree._Element] = []
        self.send_rt_script: list[str] = []  # consumed one per paSendRT; empty -> "ok"
        self.stored: set[str] = set()
        self.headers: list[dict[str, str]] = []  # each call's extra headers
        self.auth_header: tuple[str, str] | None = None
        self.tolerant = False
        self.down = False  # every call: connection refused

    def names(self) -> list[str]:
        return [soapwire.local(r) for r in self.requests]

    def receipts(self) -> list[etree._Element]:
        return [
            r.find("receipt") for r in self.requests if soapwire.local(r).startswith("paSendRT")
        ]

    def __call__(
        self,
        url: str,
        action: str,
        payload: bytes,
        timeout: float,
        *,
        headers: dict[str, str] | None = None,
    ) -> bytes:
        self.headers.append(dict(headers or {}))
        if self.down:
            raise ConnectionRefusedError("connection refused")
        if self.auth_header and (headers or {}).get(self.auth_header[0]) != self.auth_header[1]:
            return Reply(_fault("caller not authorised"), 403)
        req = soapwire.body_element(payload)
        assert etree.QName(req).namespace == PAFN
        name = soapwire.local(req)
        if not (self.tolerant and name.startswith("paSendRT")):
            assert self.xsd.validate(req), self.xsd.error_log.last_error
        self.requests.append(req)
        if name == "paVerifyPaymentNoticeReq":
            return self._verify(req)
        if name in ("paGetPaymentReq", "paGetPaymentV2Request"):
            return self._get_payment(req, name)
        return self._send_rt(req, name)

    def _res(self, name: str, outcome: str = "OK", fault: str | None = None):
        res = soapwire.wrapper(PAFN, name)
        sub(res, "outcome", outcome)
        if fault:
            f = sub(res, "fault")
            sub(f, "faultCode", fault)
            sub(f, "faultString", fault)
            sub(f, "id", EC)
        return res

    def _verify(self, req) -> bytes:
        notice = NOTICES.get(req.findtext("qrCode/noticeNumber"))
        if notice is None:
            return soapwire.envelope(
                self._res("paVerifyPaymentNoticeRes", "KO", "PAA_PAGAMENTO_SCONOSCIUTO")
            )
        res = self._res("paVerifyPaymentNoticeRes")
        option = sub(sub(res, "paymentList"), "paymentOptionDescription")
        sub(option, "amount", notice.amount)
        sub(option, "options", "EQ")
        sub(option, "allCCP", "false")
        sub(res, "paymentDescription", "Refezione scolastica")
        sub(res, "fiscalCodePA", EC)
        sub(res, "companyName", "Comune di Demo")
        return soapwire.envelope(res)

    def _get_payment(self, req, name: str) -> bytes:
        v2 = name == "paGetPaymentV2Request"
        res_name = "paGetPaymentV2Response" if v2 else "paGetPaymentRes"
        notice = NOTICES.get(req.findtext("qrCode/noticeNumber"))
        if notice is None:
            return soapwire.envelope(self._res(res_name, "KO", "PAA_PAGAMENTO_SCONOSCIUTO"))
        res = self._res(res_name)
        data = sub(res, "data")
        sub(data, "creditorReferenceId", notice.iuv)
        sub(data, "paymentAmount", notice.amount)
        sub(data, "dueDate", "2030-12-31")
        sub(data, "description", "Refezione scolastica")
        sub(data, "companyName", "Comune di Demo")
        soapwire.subject(
            data, "debtor", {"type": "F", "id": "VRDLGU75B12F205X", "name": "Luigi Verdi"}
        )
        tl = sub(data, "transferList")
        for n, (amount, cf, iban) in enumerate(notice.transfers, 1):
            t = sub(tl, "transfer")
            sub(t, "idTransfer", n)
            sub(t, "transferAmount", amount)
            sub(t, "fiscalCodePA", cf)
            if v2:
                sub(t, "companyName", "Comune di Demo" if cf == EC else "Unione dei Comuni")
            sub(t, "IBAN", iban)
            sub(t, "remittanceInformation", f"quota {n}")
            sub(t, "transferCategory", "9/0201109SE/")
        assert sum(Decimal(a) for a, _, _ in notice.transfers) == Decimal(notice.amount)
        return soapwire.envelope(res)

    def _send_rt(self, req, name: str) -> bytes:
        res_name = "paSendRTV2Response" if name == "paSendRTV2Request" else "paSendRTRes"
        step = self.send_rt_script.pop(0) if self.send_rt_script else "ok"
        if step == "timeout":
            raise TimeoutError("timed out")
        if step == "unreachable":
            raise ConnectionRefusedError("connection refused")
        if step == "garbage":
            return b"<html>502 Bad Gateway</html>"
        receipt_id = req.findtext("receipt/receiptId")
        if step != "ok":
            return soapwire.envelope(self._res(res_name, "KO", step))
        if receipt_id in self.stored:
            return soapwire.envelope(self._res(res_name, "KO", "PAA_RECEIPT_DUPLICATA"))
        self.stored.add(receipt_id)
        return soapwire.envelope(self._res(res_name))


def _fault(text: str) -> bytes:
    env = etree.Element(f"{{{SOAP11}}}Envelope", nsmap={"soapenv": SOAP11})
    fault = etree.SubElement(etree.SubElement(env, f"{{{SOAP11}}}Body"), f"{{{SOAP11}}}Fault")
    sub(fault, "faultcode", "soapenv:Client")
    sub(fault, "faultstring", text)
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")
