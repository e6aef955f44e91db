"""SOAP 1.1 envelopes in and out, with the pagoPA namespaces and unqualified children."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from lxml import etree

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
PAFN = "http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd"
NODE_FOR_PA = "http://ws.pagamenti.telematici.gov/"
CENT = Decimal("0.01")

# an untrusted peer's XML: no entities, no network, no DTD
PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_blank_text=True
)


class BadResponse(Exception):
    """The answer is not a SOAP envelope with one body element."""


def amount(value: Decimal | str | int) -> str:
    """Amounts on the wire: always two decimals, never exponent notation."""
    return f"{Decimal(value).quantize(CENT):f}"


def sub(parent: etree._Element, tag: str, text: Any = None) -> etree._Element:
    """An unqualified child element (pagoPA schemas declare no elementFormDefault)."""
    child = etree.SubElement(parent, tag)
    if text is not None:
        child.text = str(text)
    return child


def wrapper(namespace: str, name: str) -> etree._Element:
    return etree.Element(f"{{{namespace}}}{name}", nsmap={"ns": namespace})


def envelope(body_element: etree._Element) -> bytes:
    env = etree.Element(f"{{{SOAP11}}}Envelope", nsmap={"soapenv": SOAP11})
    etree.SubElement(env, f"{{{SOAP11}}}Body").append(body_element)
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


def body_element(payload: bytes) -> etree._Element:
    """The single element inside soapenv:Body (a soapenv:Fault included)."""
    try:
        root = etree.fromstring(payload, PARSER)
    except etree.XMLSyntaxError as exc:
        raise BadResponse(f"not XML: {exc}") from None
    body = root.find(f"{{{SOAP11}}}Body")
    if root.tag != f"{{{SOAP11}}}Envelope" or body is None:
        raise BadResponse("not a SOAP 1.1 envelope")
    children = [c for c in body if isinstance(c.tag, str)]
    if len(children) != 1:
        raise BadResponse(f"{len(children)} elements in the body")
    return children[0]


def local(element: etree._Element) -> str:
    return etree.QName(element).localname


def subject(parent: etree._Element, tag: str, data: dict[str, Any]) -> etree._Element:
    """A ctSubject (payer or debtor) from ``{"type": "F", "id": ..., "name": ..., ...}``."""
    elt = sub(parent, tag)
    uid = sub(elt, "uniqueIdentifier")
    sub(uid, "entityUniqueIdentifierType", data.get("type", "F"))
    sub(uid, "entityUniqueIdentifierValue", data["id"])
    sub(elt, "fullName", data["name"])
    for key, name in (
        ("street", "streetName"),
        ("civic", "civicNumber"),
        ("postal_code", "postalCode"),
        ("city", "city"),
        ("province", "stateProvinceRegion"),
        ("country", "country"),
        ("email", "e-mail"),
    ):
        if data.get(key):
            sub(elt, name, data[key])
    return elt
