"""payhub's client for the Node's reporting operations (nodeForPa, SOAP 1.1, document/literal).

``NodeClient.list_flows()`` calls nodoChiediElencoFlussiRendicontazione and returns
``FlowRef``s; ``NodeClient.get_flow(flow_id)`` calls nodoChiediFlussoRendicontazione and returns
the decoded FlussoRiversamento XML (bytes, not parsed further: reconciliation reads it).

Wire format, per the official nodeForPa.wsdl / nodeForPa.xsd: the request element is in
``http://ws.pagamenti.telematici.gov/``; its children are unqualified (the XSD declares no
elementFormDefault), in the XSD's order; SOAPAction is the operation name.

Answers are read strictly: a hardened parser (no DTD, no entities, no network, size cap), the
one ``<operation>Risposta`` element in soapenv:Body, only the children the XSD allows. A
``fault`` in the answer (the Node's KO, HTTP 200), a soapenv:Fault, malformed XML, an answer
that breaks the XSD, a timeout or an unreachable Node all raise ``NodeError`` (``fault_code``
is the Node's ``PPT_*`` code, or one of ours: ``PAYHUB_NODE_*``). The Node's own timeouts are
the defaults: 15 s for the list, 60 s for a flow (a deadline for the whole answer).

Settings (``NodeClient.from_settings``): ``payhub.node_url``, ``payhub.node_id_broker_pa``,
``payhub.node_id_station``, ``payhub.node_password`` (required); ``payhub.node_id_pa`` (the
Ente asked about by default; empty = every Ente of the station), ``payhub.node_subscription_key``
(pagoPA's API gateway key, sent as ``Ocp-Apim-Subscription-Key``),
``payhub.node_list_timeout_seconds`` (15), ``payhub.node_flow_timeout_seconds`` (60).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
from lxml import etree

from hub import xmlsafe
from hub.config import Config, as_config, setting_name

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
NODE_FOR_PA = "http://ws.pagamenti.telematici.gov/"
FDR = "http://www.digitpa.gov.it/schemas/2011/Pagamenti/"
XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
LIST = "nodoChiediElencoFlussiRendicontazione"
FLOW = "nodoChiediFlussoRendicontazione"
MAX_ANSWER_BYTES = 64 * 1024 * 1024  # a flow of ~100k payments, base64, fits

# our own codes, beside the Node's PPT_* ones
UNREACHABLE = "PAYHUB_NODE_UNREACHABLE"
TIMEOUT = "PAYHUB_NODE_TIMEOUT"
BAD_RESPONSE = "PAYHUB_NODE_BAD_RESPONSE"


class NodeError(Exception):
    """The Node answered KO, answered something we cannot read, or could not be reached."""

    def __init__(self, fault_code: str, description: str = "") -> None:
        super().__init__(f"{fault_code}: {description}" if description else fault_code)
        self.fault_code, self.description = fault_code, description

    @classmethod
    def of(cls, fault_code: str, description: str = "") -> NodeError:
        return ERRORS.get(fault_code, NodeError)(fault_code, description)


class NodeUnavailable(NodeError):
    """Timeout, connection refused, or an HTTP error without a readable SOAP answer."""


class BadNodeResponse(NodeError):
    """Not XML, not SOAP, or not what nodeForPa.xsd describes."""


class NodeAuthenticationError(NodeError):
    """The Node does not recognise the broker, the station or its password."""


class UnknownFlow(NodeError):
    """PPT_ID_FLUSSO_SCONOSCIUTO: no such flow for this Ente (or only on SFTP)."""


ERRORS: dict[str, type[NodeError]] = {
    UNREACHABLE: NodeUnavailable,
    TIMEOUT: NodeUnavailable,
    BAD_RESPONSE: BadNodeResponse,
    "PPT_AUTENTICAZIONE": NodeAuthenticationError,
    "PPT_INTERMEDIARIO_PA_SCONOSCIUTO": NodeAuthenticationError,
    "PPT_STAZIONE_INT_PA_SCONOSCIUTA": NodeAuthenticationError,
    "PPT_ID_FLUSSO_SCONOSCIUTO": UnknownFlow,
}


@dataclass(frozen=True)
class FlowRef:
    """One entry of the Node's list. ``psp`` is known only when the list was asked per PSP
    (the Node's answer does not carry it); ``date`` is as sent (the Node sends local time,
    no offset)."""

    flow_id: str
    date: dt.datetime
    psp: str | None = None


def _bad(description: str) -> BadNodeResponse:
    return BadNodeResponse(BAD_RESPONSE, description)


def parse_xml(data: bytes) -> etree._Element:
    """Parse an untrusted answer with hub.xmlsafe's rules (no DTD, no entity, no network)."""
    try:
        return xmlsafe.parse_untrusted(data, limit=MAX_ANSWER_BYTES)
    except xmlsafe.UnsafeXml as exc:
        raise _bad(str(exc)) from None


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def _children(element: etree._Element) -> list[etree._Element]:
    return [c for c in element if isinstance(c.tag, str)]


def _text(element: etree._Element, name: str, *, required: bool = True) -> str | None:
    found = element.findall(name)  # unqualified, as the XSD says
    if len(found) > 1:
        raise _bad(f"{name} repeated in {_local(element)}")
    text = (found[0].text or "").strip() if found else ""
    if required and not text:
        raise _bad(f"{_local(element)} has no {name}")
    return text or None


def _only(element: etree._Element, allowed: tuple[str, ...]) -> None:
    for child in _children(element):
        if child.tag not in allowed:  # a namespaced child has a "{ns}name" tag: refused too
            raise _bad(f"unexpected {child.tag} in {_local(element)}")


def answer_element(data: bytes, operation: str) -> etree._Element:
    """The ``<operation>Risposta`` element of a nodeForPa answer, once its ``fault`` (if any)
    has been raised as a NodeError."""
    root = parse_xml(data)
    if root.tag != f"{{{SOAP11}}}Envelope":
        raise _bad(f"not a SOAP 1.1 Envelope: {root.tag}")
    bodies = root.findall(f"{{{SOAP11}}}Body")
    if len(bodies) != 1:
        raise _bad("the envelope has no single soapenv:Body")
    children = _children(bodies[0])
    if len(children) != 1:
        raise _bad(f"{len(children)} elements in soapenv:Body")
    answer = children[0]
    if answer.tag == f"{{{SOAP11}}}Fault":
        code = (answer.findtext("faultcode") or "").strip().rpartition(":")[2]
        raise NodeError.of(code or BAD_RESPONSE, (answer.findtext("faultstring") or "").strip())
    if answer.tag != f"{{{NODE_FOR_PA}}}{operation}Risposta":
        raise _bad(f"expected {operation}Risposta, got {answer.tag}")
    faults = answer.findall("fault")
    if len(faults) > 1:
        raise _bad("more than one fault")
    if faults:
        fault = faults[0]
        code = _text(fault, "faultCode") or ""
        description = (
            _text(fault, "description", required=False)
            or _text(fault, "faultString", required=False)
            or ""
        )
        raise NodeError.of(code, description)
    return answer


def parse_flow_list(data: bytes, psp: str | None = None) -> list[FlowRef]:
    """nodoChiediElencoFlussiRendicontazioneRisposta -> FlowRefs (a flow listed twice, once)."""
    answer = answer_element(data, LIST)
    _only(answer, ("fault", "elencoFlussiRendicontazione"))
    lists = answer.findall("elencoFlussiRendicontazione")
    if len(lists) > 1:
        raise _bad("elencoFlussiRendicontazione repeated")
    if not lists:  # the XSD allows an answer with neither a fault nor a list: nothing to read
        return []
    elenco = lists[0]
    _only(elenco, ("totRestituiti", "idRendicontazione"))
    total = _text(elenco, "totRestituiti")
    if not re.fullmatch(r"[+-]?\d+", total or ""):
        raise _bad(f"totRestituiti is not an integer: {total!r}")
    refs: dict[str, FlowRef] = {}
    for item in elenco.findall("idRendicontazione"):
        if item.get(XSI_NIL) in ("true", "1"):
            continue
        _only(item, ("identificativoFlusso", "dataOraFlusso"))
        flow_id = _text(item, "identificativoFlusso") or ""
        when = _text(item, "dataOraFlusso") or ""
        try:
            date = dt.datetime.fromisoformat(when)
        except ValueError:
            raise _bad(f"dataOraFlusso is not a dateTime: {when!r}") from None
        refs.setdefault(flow_id, FlowRef(flow_id, date, psp))
    return list(refs.values())


def parse_flow(data: bytes) -> bytes:
    """nodoChiediFlussoRendicontazioneRisposta -> the FlussoRiversamento document's bytes."""
    answer = answer_element(data, FLOW)
    _only(answer, ("fault", "xmlRendicontazione"))
    encoded = _text(answer, "xmlRendicontazione", required=False)
    if encoded is None:
        raise _bad("neither a fault nor xmlRendicontazione")
    try:
        xml = base64.b64decode("".join(encoded.split()), validate=True)
    except (binascii.Error, ValueError):
        raise _bad("xmlRendicontazione is not base64") from None
    root = parse_xml(xml)
    if root.tag != f"{{{FDR}}}FlussoRiversamento":
        raise _bad(f"xmlRendicontazione holds {root.tag}, not a FlussoRiversamento")
    return xml


class NodeClient:
    """The station's side of nodeForPa's reporting operations."""

    def __init__(
        self,
        url: str,
        id_pa: str | None,
        id_broker_pa: str,
        id_station: str,
        password: str | None = None,
        timeout: float | None = None,
        *,
        list_timeout: float = 15.0,
        flow_timeout: float = 60.0,
        connect_timeout: float = 5.0,
        subscription_key: str | None = None,
    ) -> None:
        """``timeout``, when given, is the deadline of both operations; otherwise
        ``list_timeout`` / ``flow_timeout`` (the Node's own: 15 s and 60 s)."""
        if not url:
            raise ValueError("the Node's nodeForPa URL is required")
        if password is None or not 8 <= len(password) <= 15:
            raise ValueError("nodeForPa.xsd requires the station password (8 to 15 characters)")
        for name, value in (
            ("id_broker_pa", id_broker_pa),
            ("id_station", id_station),
            ("id_pa", id_pa or "x"),
        ):
            if not value or len(value) > 35:
                raise ValueError(f"{name} must be 1 to 35 characters (stText35)")
        self.url, self.id_pa = url, id_pa or None
        self.id_broker_pa, self.id_station, self.password = id_broker_pa, id_station, password
        self.list_timeout = float(timeout if timeout is not None else list_timeout)
        self.flow_timeout = float(timeout if timeout is not None else flow_timeout)
        self.connect_timeout = float(connect_timeout)
        self.subscription_key = subscription_key or None

    @classmethod
    def from_settings(cls, settings: Config | Mapping[str, Any]) -> NodeClient:
        config = as_config(settings)

        def get(name: str) -> Any:
            value = getattr(config, f"node_{name}")
            return value.strip() if isinstance(value, str) else value

        missing = [
            setting_name(f"node_{n}")
            for n in ("url", "id_broker_pa", "id_station", "password")
            if not get(n)
        ]
        if missing:
            raise ValueError(f"missing settings for the Node's client: {', '.join(missing)}")
        return cls(
            get("url"),
            get("id_pa") or None,
            get("id_broker_pa"),
            get("id_station"),
            get("password"),
            list_timeout=get("list_timeout_seconds"),
            flow_timeout=get("flow_timeout_seconds"),
            subscription_key=get("subscription_key") or None,
        )

    # -- requests ------------------------------------------------------------------------------

    def build_request(
        self,
        operation: str,
        *,
        ec_fiscal_code: str | None = None,
        psp: str | None = None,
        flow_id: str | None = None,
    ) -> bytes:
        """The SOAP envelope for ``operation``, children in nodeForPa.xsd's order."""
        request = etree.Element(f"{{{NODE_FOR_PA}}}{operation}", nsmap={"ws": NODE_FOR_PA})
        fields = [
            ("identificativoIntermediarioPA", self.id_broker_pa),
            ("identificativoStazioneIntermediarioPA", self.id_station),
            ("password", self.password),
            ("identificativoDominio", ec_fiscal_code or self.id_pa),
            ("identificativoPSP", psp),
        ]
        if operation == FLOW:
            fields.append(("identificativoFlusso", flow_id))
        for name, value in fields:
            if value is not None:
                etree.SubElement(request, name).text = value
        envelope = etree.Element(f"{{{SOAP11}}}Envelope", nsmap={"soapenv": SOAP11})
        etree.SubElement(envelope, f"{{{SOAP11}}}Body").append(request)
        return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")

    def list_flows(
        self, ec_fiscal_code: str | None = None, psp: str | None = None
    ) -> list[FlowRef]:
        """The flows the Node holds for the Ente (default ``id_pa``; none: every Ente of the
        station), optionally only one PSP's."""
        payload = self.build_request(LIST, ec_fiscal_code=ec_fiscal_code, psp=psp)
        return parse_flow_list(self._post(LIST, payload, self.list_timeout), psp)

    def get_flow(
        self, flow_id: str, ec_fiscal_code: str | None = None, psp: str | None = None
    ) -> bytes:
        """The FlussoRiversamento XML of ``flow_id`` (decoded from xmlRendicontazione)."""
        if not flow_id:
            raise ValueError("flow_id is required")
        payload = self.build_request(FLOW, ec_fiscal_code=ec_fiscal_code, psp=psp, flow_id=flow_id)
        return parse_flow(self._post(FLOW, payload, self.flow_timeout))

    def _post(self, operation: str, payload: bytes, timeout: float) -> bytes:
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{operation}"'}
        if self.subscription_key:
            headers["Ocp-Apim-Subscription-Key"] = self.subscription_key
        deadline = time.monotonic() + timeout
        try:
            with requests.post(
                self.url,
                data=payload,
                headers=headers,
                stream=True,
                timeout=(min(self.connect_timeout, timeout), timeout),
                allow_redirects=False,
            ) as response:
                body = bytearray()
                for chunk in response.iter_content(64 * 1024):
                    body += chunk
                    if len(body) > MAX_ANSWER_BYTES:
                        raise _bad(f"answer larger than {MAX_ANSWER_BYTES} bytes")
                    if time.monotonic() > deadline:
                        raise NodeError.of(TIMEOUT, f"{operation}: no full answer in {timeout} s")
                status = response.status_code
        except requests.Timeout:
            raise NodeError.of(TIMEOUT, f"{operation}: no answer in {timeout} s") from None
        except requests.RequestException as exc:
            raise NodeError.of(UNREACHABLE, f"{operation}: {exc}") from None
        if status == 200:
            return bytes(body)
        # a SOAP fault comes with HTTP 500: raise it as the Node's error if it can be read
        with contextlib.suppress(BadNodeResponse):
            answer_element(bytes(body), operation)
        raise NodeError.of(UNREACHABLE, f"{operation}: HTTP {status}")
