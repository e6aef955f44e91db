"""Reading a SOAP request safely: refuse before parsing, parse without DTDs, find the body.

Checks run on the raw bytes first (size, DOCTYPE/ENTITY declarations), then lxml parses with
a parser that never loads a DTD, never resolves an entity and never touches the network or
the file system. Child elements are compared on namespace URI and local name, never prefixes.
"""

from __future__ import annotations

import re
import threading

from lxml import etree

from soap.models import PAFN

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)", re.IGNORECASE)
_UTF16_DECL = re.compile(rb"<\x00!\x00|\x00<\x00!")


class Refused(Exception):
    """The request is not a SOAP message we will read; answered with a SOAP Fault."""


_local = threading.local()


def _parser() -> etree.XMLParser:
    # lxml parsers must not be shared between threads
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                                 dtd_validation=False, huge_tree=False, remove_comments=True,
                                 remove_pis=True, collect_ids=False, remove_blank_text=False)
        _local.parser = parser
    return parser


def precheck(body: bytes, limit: int) -> None:
    """Refuse an empty or oversized body, or one declaring a DTD or entities."""
    if not body:
        raise Refused("empty request body")
    if len(body) > limit:
        raise Refused(f"request body larger than {limit} bytes")
    if _DECLARATION.search(body) or _UTF16_DECL.search(body):
        raise Refused("DTD and entity declarations are not accepted")


def parse(body: bytes) -> etree._Element:
    """Parse a prechecked body and return the request element inside soap:Body."""
    try:
        root = etree.fromstring(body, _parser())
    except etree.XMLSyntaxError as exc:
        raise Refused(f"not well-formed XML: {exc.msg}") from None
    tree = root.getroottree()
    if tree.docinfo.internalDTD is not None or tree.docinfo.doctype:
        raise Refused("DTD and entity declarations are not accepted")
    if root.tag != f"{{{SOAP11}}}Envelope":
        raise Refused("the document is not a SOAP 1.1 Envelope")
    body_elt = root.find(f"{{{SOAP11}}}Body")
    if body_elt is None:
        raise Refused("the SOAP Envelope has no Body")
    children = [c for c in body_elt if isinstance(c.tag, str)]
    if len(children) != 1:
        raise Refused("the SOAP Body must contain exactly one request element")
    return children[0]


def unqualify_children(request: etree._Element) -> None:
    """Lenient on one common client mistake: children qualified with the paForNode namespace
    (a default namespace not reset by xmlns="") are read as the unqualified children the XSD
    wants. Other namespaces are left alone, so the schema still rejects them."""
    prefix = f"{{{PAFN}}}"
    for elt in request.iterdescendants():
        if isinstance(elt.tag, str) and elt.tag.startswith(prefix):
            elt.tag = elt.tag[len(prefix):]
