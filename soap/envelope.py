"""Reading a SOAP request safely: refuse before parsing, parse without DTDs, find the body.

Checks run on the raw bytes first (size, encoding: UTF-8 or UTF-16 only, DOCTYPE/ENTITY
declarations), then lxml parses with a parser that never loads a DTD, never resolves an entity
and whose resolver refuses every URI, so it never touches the network or the file system.
Child elements are compared on namespace URI and local name, never prefixes.
"""

from __future__ import annotations

import re
import threading

from lxml import etree

from hub.xmlsafe import UnsafeXml, encoding_of, safe_parser
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
        parser = _local.parser = safe_parser()
    return parser


def precheck(body: bytes, limit: int) -> None:
    """Refuse an empty or oversized body, one in another encoding than UTF-8 or UTF-16, or one
    declaring a DTD or entities."""
    if not body:
        raise Refused("empty request body")
    if len(body) > limit:
        raise Refused(f"request body larger than {limit} bytes")
    try:
        encoding_of(body)
    except UnsafeXml as exc:
        raise Refused(str(exc)) from None
    if _DECLARATION.search(body) or _UTF16_DECL.search(body):
        raise Refused("DTD and entity declarations are not accepted")


def parse_document(data: bytes, limit: int) -> etree._Element:
    """A small XML document carried inside a request (paDemand's service data), under the
    same rules as the envelope; returns its root element."""
    precheck(data, limit)
    try:
        root = etree.fromstring(data, _parser())
    except (etree.XMLSyntaxError, UnsafeXml) as exc:
        raise Refused(f"not well-formed XML: {getattr(exc, 'msg', exc)}") from None
    if root.getroottree().docinfo.doctype:
        raise Refused("DTD and entity declarations are not accepted")
    return root


def parse(body: bytes) -> etree._Element:
    """Parse a prechecked body and return the request element inside soap:Body."""
    try:
        root = etree.fromstring(body, _parser())
    except (etree.XMLSyntaxError, UnsafeXml) as exc:
        raise Refused(f"not well-formed XML: {getattr(exc, 'msg', exc)}") from None
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
            elt.tag = elt.tag[len(prefix) :]
