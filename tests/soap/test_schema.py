"""Our WSDL and our validation schema, compared with pagoPA's official files."""

from __future__ import annotations

import pytest
from lxml import etree

from soap import schema
from tests.conftest import shared_path, shared_schema
from tests.soap.soapcheck import SOAP11

WSDL = "http://schemas.xmlsoap.org/wsdl/"
XSD = "http://www.w3.org/2001/XMLSchema"


def _corpus():
    pm = shared_path("peer-material")
    files = [
        *(pm / "soap-samples" / "official-sanp").glob("*.xml"),
        *(pm / "soap-samples" / "pagopa-mock-ec" / "resources").glob("*.xml"),
        *(pm / "node-response-oracle" / "templates").glob("*.xml"),
        *(pm / "gpd-payments" / "api-test-requests").glob("*.xml"),
    ]
    for path in sorted(files):
        try:
            root = etree.parse(str(path)).getroot()
        except etree.XMLSyntaxError:
            continue
        body = root.find(f"{{{SOAP11}}}Body")
        if body is not None:
            yield path.name, next(c for c in body if isinstance(c.tag, str))


def test_our_schema_agrees_with_the_official_one_on_every_sample():
    official = shared_schema("pagopa", "wsdl", "xsd", "paForNode.xsd")
    ours = schema.validation_schema()
    checked = 0
    for name, element in _corpus():
        expected = official.validate(element)
        if "docs-literal-standin" in name:  # deliberately lenient: <standin> is accepted
            assert ours.validate(element), name
            continue
        assert ours.validate(element) == expected, name
        checked += 1
    assert checked > 40


def test_wsdl_names_match_the_official_wsdl():
    official = etree.parse(str(shared_path("pagopa", "wsdl", "paForNode.wsdl"))).getroot()
    ours = etree.fromstring(schema.wsdl_document("http://127.0.0.1/soap/paForNode"))

    def shape(doc):
        return {
            "tns": doc.get("targetNamespace"),
            "messages": {
                (m.get("name"), p.get("name"), p.get("element").split(":")[1])
                for m in doc.findall(f"{{{WSDL}}}message")
                for p in m.findall(f"{{{WSDL}}}part")
            },
            "operations": {
                o.get("name") for o in doc.iterfind(f"{{{WSDL}}}portType/{{{WSDL}}}operation")
            },
            "actions": {
                o.get("soapAction")
                for o in doc.iter("{http://schemas.xmlsoap.org/wsdl/soap/}operation")
            },
            "service": [
                (s.get("name"), p.get("name"), p.get("binding"))
                for s in doc.findall(f"{{{WSDL}}}service")
                for p in s.findall(f"{{{WSDL}}}port")
            ],
        }

    assert shape(ours) == shape(official)
    address = ours.find(".//{http://schemas.xmlsoap.org/wsdl/soap/}address")
    assert address.get("location") == "http://127.0.0.1/soap/paForNode"


def test_wsdl_types_declare_the_official_elements_and_types_unqualified():
    official = etree.parse(str(shared_path("pagopa", "wsdl", "xsd", "paForNode.xsd"))).getroot()
    ours = etree.fromstring(schema.wsdl_document("http://x/"))
    pa = next(
        s
        for s in ours.iter(f"{{{XSD}}}schema")
        if s.get("targetNamespace") == official.get("targetNamespace")
    )
    names = lambda doc, tag: {e.get("name") for e in doc.findall(f"{{{XSD}}}{tag}")}  # noqa: E731
    assert names(pa, "element") == names(official, "element")
    assert names(official, "complexType") <= names(pa, "complexType")
    assert pa.get("elementFormDefault") in (None, "unqualified")


@pytest.mark.pg
def test_wsdl_is_served_with_our_address(app):
    resp = app.get("/soap/paForNode?wsdl")
    assert resp.content_type == "text/xml"
    assert b'location="http://localhost/soap/paForNode"' in resp.body
