"""Parsing untrusted XML documents (reporting flows, bank statements) without surprises.

The same rules as the SOAP edge (soap/envelope.py): refuse any DTD or entity declaration on
the raw bytes before parsing, then parse with an lxml parser that loads no DTD, resolves no
entity, never touches the network and keeps no comments or processing instructions.
"""

from __future__ import annotations

import re

from lxml import etree

from hub.errors import DomainError

MAX_DOCUMENT_BYTES = 64 * 1024 * 1024
_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)", re.IGNORECASE)


class UnsafeXml(DomainError):
    """Not well-formed, too large, UTF-16, or declaring a DTD or entities."""

    code = "unsafe_xml"


def _parser() -> etree.XMLParser:
    # a new parser per document: lxml parsers must not be shared between threads
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           dtd_validation=False, huge_tree=False, remove_comments=True,
                           remove_pis=True, collect_ids=False)


def parse_untrusted(data: bytes, *, limit: int = MAX_DOCUMENT_BYTES) -> etree._Element:
    """The document's root element. Raises UnsafeXml for anything but a plain document."""
    if not data.strip():
        raise UnsafeXml("empty document")
    if len(data) > limit:
        raise UnsafeXml(f"document larger than {limit} bytes")
    if _DECLARATION.search(data) or b"\x00" in data:
        raise UnsafeXml("DTD and entity declarations (or UTF-16) are not accepted")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise UnsafeXml(f"not well-formed XML: {exc.msg}") from None
    if root.getroottree().docinfo.doctype:
        raise UnsafeXml("DTD declarations are not accepted")
    return root
