"""What the pagoPA Node checks on an EC response: the official XSD, then its own rules
(node-response-oracle: KO <=> fault; verify OK carries paymentList, paymentDescription,
fiscalCodePA, companyName; getPayment OK carries data; V2 transfers sum to paymentAmount and
idTransfer runs 1..n)."""

from __future__ import annotations

from decimal import Decimal

from lxml import etree

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
PAFN = "http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd"


def body_element(payload: bytes) -> etree._Element:
    root = etree.fromstring(payload)
    assert root.tag == f"{{{SOAP11}}}Envelope", root.tag
    children = [c for c in root.find(f"{{{SOAP11}}}Body") if isinstance(c.tag, str)]
    assert len(children) == 1
    return children[0]


def check_response(payload: bytes, xsd: etree.XMLSchema) -> etree._Element:
    res = body_element(payload)
    assert res.tag.startswith(f"{{{PAFN}}}"), res.tag
    assert xsd.validate(res), xsd.error_log.last_error
    outcome = res.findtext("outcome")
    has_fault = res.find("fault") is not None
    assert (outcome == "KO") == has_fault, "KO <=> fault"
    name = etree.QName(res).localname
    if outcome == "OK" and name in ("paVerifyPaymentNoticeRes", "paDemandPaymentNoticeResponse"):
        for tag in ("paymentList", "paymentDescription", "fiscalCodePA", "companyName"):
            assert res.find(tag) is not None, f"{name} OK without {tag}"
        assert len(res.findall("paymentList/paymentOptionDescription")) == 1
    if outcome == "OK" and name.startswith("paGetPayment"):
        data = res.find("data")
        assert data is not None
        transfers = data.findall("transferList/transfer")
        total = sum(Decimal(t.findtext("transferAmount")) for t in transfers)
        assert total == Decimal(data.findtext("paymentAmount")), "transfers != paymentAmount"
        assert [int(t.findtext("idTransfer")) for t in transfers] == list(
            range(1, len(transfers) + 1)
        ), "idTransfer must run 1..n"
    return res
