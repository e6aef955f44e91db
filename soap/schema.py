"""The published WSDL and the request-validation schema, both generated from soap.models.

Spyne renders the XML Schema of our models (children unqualified, as in the official XSD);
the WSDL skeleton around it (messages ``bodyrequest``/``bodyresponse``, ``paForNodeBinding``,
``paForNodeService``/``paForNodePort``) is written here with the official names, so a client
generated from our ``?wsdl`` is interchangeable with one generated from pagoPA's file.
Nothing here reads ../shared: the runtime carries its own schema.
"""

from __future__ import annotations

import functools

from lxml import etree
from spyne import Application, ServiceBase, rpc
from spyne.interface.wsdl import Wsdl11
from spyne.protocol.soap import Soap11

from soap.models import COMMON, OPERATIONS, PAFN, WSDL_TNS

XSD = "http://www.w3.org/2001/XMLSchema"
WSDL = "http://schemas.xmlsoap.org/wsdl/"
WSDL_SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"
_COMMON_LOCATION = "sac-common-types-1.0.xsd"
# xs:choice groups of the official XSD that Spyne cannot place mid-sequence
_CHOICES = {
    "ctTransferPAV2": ("IBAN", "richiestaMarcaDaBollo"),
    "ctTransferPAReceiptV2": ("IBAN", "MBDAttachment"),
}


def _declare(operation: str, request, response):
    def handler(ctx, body):  # pragma: no cover - dispatch is soap.dispatch's, see module doc
        raise NotImplementedError

    handler.__name__ = operation
    return rpc(
        request,
        _returns=response,
        _body_style="bare",
        _operation_name=operation,
        _in_message_name=request.get_type_name(),
        _out_message_name=response.get_type_name(),
    )(handler)


paForNodeService = type(
    "paForNodeService",
    (ServiceBase,),
    {op: _declare(op, req, res) for op, (req, res) in OPERATIONS.items()},
)


@functools.cache
def spyne_application() -> Application:
    return Application(
        [paForNodeService],
        tns=WSDL_TNS,
        name="paForNode",
        in_protocol=Soap11(),
        out_protocol=Soap11(),
    )


def operations_by_element() -> dict[str, tuple[str, str]]:
    """Request element (Clark notation) -> (operation, response element), from the Spyne
    interface: the dispatch table."""
    table = {}
    for descriptors in spyne_application().interface.service_method_map.values():
        for d in descriptors:
            name = d.operation_name
            req, res = OPERATIONS[name]
            assert d.in_message.get_type_name() == req.get_type_name()
            table[f"{{{PAFN}}}{req.get_type_name()}"] = (name, res.get_type_name())
    return table


@functools.cache
def _schemas() -> dict[str, etree._Element]:
    """The two schema documents (paForNode and common types) Spyne generates for our models."""
    wsdl = Wsdl11(spyne_application().interface, element_form_default="unqualified")
    wsdl.build_interface_document("http://localhost/")
    doc = etree.fromstring(wsdl.get_interface_document())
    found = {s.get("targetNamespace"): s for s in doc.iter(f"{{{XSD}}}schema")}
    wrappers = {t.get_type_name() for pair in OPERATIONS.values() for t in pair}
    pa, common = _clean(found[PAFN]), _clean(found[COMMON])
    # Spyne declares an element per type, and the wrappers in the WSDL namespace: declare
    # exactly the official twelve wrappers instead
    for elt in pa.findall(f"{{{XSD}}}element"):
        pa.remove(elt)
    for name in sorted(wrappers):
        etree.SubElement(pa, f"{{{XSD}}}element", name=name, type=f"pafn:{name}")
    for elt in common.findall(f"{{{XSD}}}element"):
        common.remove(elt)
    for type_name, names in _CHOICES.items():
        _make_choice(pa, type_name, names)
    return {PAFN: pa, COMMON: common}


def _clean(schema: etree._Element) -> etree._Element:
    """A standalone copy with only the namespace declarations it uses."""
    nsmap = {"xs": XSD, "pafn": PAFN, "common": COMMON}
    copy = etree.Element(
        f"{{{XSD}}}schema",
        nsmap=nsmap,
        targetNamespace=schema.get("targetNamespace"),
        version="1.0.0",
    )
    spyne_prefixes = {p: ns for p, ns in schema.nsmap.items() if p}
    for child in schema:
        copy.append(_reprefix(child, spyne_prefixes, {v: k for k, v in nsmap.items()}))
    etree.cleanup_namespaces(copy, top_nsmap=nsmap, keep_ns_prefixes=list(nsmap))
    return copy


def _reprefix(elt, old: dict[str, str], new: dict[str, str]):
    elt = etree.fromstring(etree.tostring(elt))
    for node in elt.iter():
        for attr in ("type", "base"):
            value = node.get(attr)
            if value and ":" in value:
                prefix, local = value.split(":", 1)
                node.set(attr, f"{new[old[prefix]]}:{local}")
    return elt


def _make_choice(schema, type_name: str, names: tuple[str, str]) -> None:
    ct = schema.find(f"{{{XSD}}}complexType[@name='{type_name}']")
    seq = ct.find(f"{{{XSD}}}sequence")
    members = [seq.find(f"{{{XSD}}}element[@name='{n}']") for n in names]
    choice = etree.Element(f"{{{XSD}}}choice")
    seq.insert(seq.index(members[0]), choice)
    for m in members:
        m.attrib.pop("minOccurs", None)
        choice.append(m)


def schema_documents() -> tuple[bytes, bytes]:
    """(paForNode schema, common-types schema) as bytes; the first imports the second."""
    pa = etree.fromstring(etree.tostring(_schemas()[PAFN]))
    imp = pa.find(f"{{{XSD}}}import")
    imp.set("schemaLocation", _COMMON_LOCATION)
    return etree.tostring(pa), etree.tostring(_schemas()[COMMON])


class _MemoryResolver(etree.Resolver):
    def __init__(self, documents: dict[str, bytes]) -> None:
        super().__init__()
        self.documents = documents

    def resolve(self, url, pubid, context):
        name = url.rsplit("/", 1)[-1]
        if name in self.documents:
            return self.resolve_string(self.documents[name], context)
        raise OSError(f"schema {url} is not available offline")


@functools.cache
def validation_schema() -> etree.XMLSchema:
    """The lxml schema inbound request wrappers are validated against."""
    pa, common = schema_documents()
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    parser.resolvers.add(_MemoryResolver({_COMMON_LOCATION: common}))
    return etree.XMLSchema(etree.fromstring(pa, parser, base_url="memory:/paForNode.xsd"))


@functools.cache
def wsdl_document(address: str) -> bytes:
    """The WSDL, with ``address`` as the service location."""
    w, tns = (lambda tag: f"{{{WSDL}}}{tag}"), WSDL_TNS
    root = etree.Element(
        w("definitions"),
        targetNamespace=tns,
        nsmap={"wsdl": WSDL, "soap": WSDL_SOAP, "tns": tns, "xsd": XSD, "pafn": PAFN},
    )
    types = etree.SubElement(root, w("types"))
    for ns in (COMMON, PAFN):
        types.append(etree.fromstring(etree.tostring(_schemas()[ns])))
    ops = list(OPERATIONS.items())
    messages = {}
    for op, (req, res) in ops:
        in_name = op if req.get_type_name().endswith("Request") else req.get_type_name()
        out_name = res.get_type_name()
        messages[op] = (in_name, out_name)
        for name, part, element in ((in_name, "bodyrequest", req), (out_name, "bodyresponse", res)):
            msg = etree.SubElement(root, w("message"), name=name)
            etree.SubElement(msg, w("part"), name=part, element=f"pafn:{element.get_type_name()}")
    port_type = etree.SubElement(root, w("portType"), name="paForNode")
    for op, _ in ops:
        o = etree.SubElement(port_type, w("operation"), name=op)
        etree.SubElement(o, w("input"), message=f"tns:{messages[op][0]}")
        etree.SubElement(o, w("output"), message=f"tns:{messages[op][1]}")
    binding = etree.SubElement(root, w("binding"), name="paForNodeBinding", type="tns:paForNode")
    etree.SubElement(
        binding,
        f"{{{WSDL_SOAP}}}binding",
        style="document",
        transport="http://schemas.xmlsoap.org/soap/http",
    )
    for op, _ in ops:
        o = etree.SubElement(binding, w("operation"), name=op)
        etree.SubElement(o, f"{{{WSDL_SOAP}}}operation", soapAction=op)
        for direction in ("input", "output"):
            etree.SubElement(
                etree.SubElement(o, w(direction)), f"{{{WSDL_SOAP}}}body", use="literal"
            )
    service = etree.SubElement(root, w("service"), name="paForNodeService")
    port = etree.SubElement(
        service, w("port"), name="paForNodePort", binding="tns:paForNodeBinding"
    )
    etree.SubElement(port, f"{{{WSDL_SOAP}}}address", location=address)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


# -- tolerance: elements newer than our schema ----------------------------------------------
# The Node adds elements before the XSD pagoPA publishes has them, and not always where the
# XSD would put them (since the 2026 V2 switch receipts carry <paymentNote> right after
# <description>). A request is read for the elements we know: the others are taken out of the
# tree we validate and read (the stored original keeps them), and known elements are put back
# in the order of their sequence. Values, and elements we need, are still checked strictly.


def _qualified(value: str, nsmap: dict[str | None, str]) -> tuple[str, str]:
    prefix, _, local = value.rpartition(":")
    return nsmap.get(prefix or None, ""), local


Model = dict[tuple[str, str], dict[str, tuple[int, tuple[str, str] | None]]]


@functools.cache
def content_model() -> Model:
    """(namespace, complex type) -> {child element name: (its place in the sequence, its
    complex type or None for a simple one)}, from the schema documents, extensions first."""
    types: dict[tuple[str, str], etree._Element] = {}
    for ns, doc in _schemas().items():
        for ct in doc.findall(f"{{{XSD}}}complexType"):
            types[(ns, ct.get("name"))] = ct
    model: Model = {}

    def children(key: tuple[str, str]) -> dict[str, tuple[int, tuple[str, str] | None]]:
        if key in model:
            return model[key]
        ct = types[key]
        found: dict[str, tuple[int, tuple[str, str] | None]] = {}
        model[key] = found
        for ext in ct.iter(f"{{{XSD}}}extension"):
            base = _qualified(ext.get("base"), ext.nsmap)
            if base in types:
                found.update(children(base))
        for elt in ct.iter(f"{{{XSD}}}element"):
            child_type = _qualified(elt.get("type", ""), elt.nsmap)
            found[elt.get("name")] = (len(found), child_type if child_type in types else None)
        return found

    for key in types:
        children(key)
    return model


def tolerate_novelty(request: etree._Element) -> tuple[list[str], int]:
    """Below the request wrapper ``request`` (children unqualified, as the XSD wants them),
    remove every element the schema does not know and put known ones in schema order.
    Returns the removed elements' paths and how many parents had to be reordered."""
    model = content_model()
    removed: list[str] = []
    reordered = 0

    def walk(elt: etree._Element, key: tuple[str, str], path: str) -> None:
        nonlocal reordered
        allowed = model.get(key)
        if allowed is None:
            return
        kept = []
        for child in list(elt):
            if not isinstance(child.tag, str):
                continue
            known = allowed.get(child.tag)  # None also for another namespace's element
            if known is None:
                removed.append(f"{path}/{etree.QName(child).localname}"[:120])
                elt.remove(child)
                continue
            kept.append((known[0], child))
            if known[1] is not None:
                walk(child, known[1], f"{path}/{child.tag}")
        places = [place for place, _ in kept]
        if places != sorted(places):
            reordered += 1
            for _, child in sorted(kept, key=lambda pair: pair[0]):  # stable: twins keep order
                elt.append(child)

    name = etree.QName(request).localname
    walk(request, (PAFN, name), name)
    return removed, reordered
