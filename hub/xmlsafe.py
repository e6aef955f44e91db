"""Parsing untrusted XML documents (reporting flows, bank statements) without surprises.

The same rules as the SOAP edge (soap/envelope.py): refuse any DTD or entity declaration on
the raw bytes before parsing, then parse with an lxml parser that loads no DTD, resolves no
entity, never touches the network and keeps no comments or processing instructions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence

from lxml import etree

from hub.errors import DomainError

MAX_DOCUMENT_BYTES = 64 * 1024 * 1024
_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)", re.IGNORECASE)


class UnsafeXml(DomainError):
    """Not well-formed, too large, UTF-16, or declaring a DTD or entities."""

    code = "unsafe_xml"


# what every parser of untrusted documents is given (safe_parser, iter_untrusted's pull parser)
_SAFE_OPTIONS: dict[str, bool] = dict(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
    collect_ids=False,
)


class RefuseEveryUri(etree.Resolver):
    """A resolver for parsers of untrusted documents: no URI is ever opened, not even a local
    file (libxml2 may look one up before any other check of ours could stop it)."""

    def resolve(self, url, pubid, context):
        raise UnsafeXml("external references are not accepted")


def safe_parser(**options) -> etree.XMLParser:
    """An lxml parser that loads no DTD, resolves no entity and opens no URI. lxml parsers must
    not be shared between threads: make one per document or keep one per thread."""
    parser = etree.XMLParser(**{**_SAFE_OPTIONS, **options})
    parser.resolvers.add(RefuseEveryUri())
    return parser


_DECLARED = re.compile(rb"""^<\?xml[^>]*?\sencoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def encoding_of(data: bytes) -> str:
    """``"utf-8"`` or ``"utf-16"``, the only encodings accepted, from the byte order mark, the
    first bytes and the XML declaration. Raises UnsafeXml for any other (UTF-32, EBCDIC, Latin-1
    ...): a DTD in an encoding our byte-level checks cannot read must never reach libxml2."""
    head = data[:4]
    if head.startswith((b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00")) or head in (
        b"\x00\x00\x00<",
        b"<\x00\x00\x00",
    ):
        raise UnsafeXml("only UTF-8 and UTF-16 documents are accepted")
    if head.startswith((b"\xfe\xff", b"\xff\xfe")) or head in (b"\x00<\x00?", b"<\x00?\x00"):
        body = data[2:] if head[:2] in (b"\xfe\xff", b"\xff\xfe") else data
        big = head.startswith(b"\xfe\xff") or head.startswith(b"\x00<")
        text = body[:400].decode("utf-16-be" if big else "utf-16-le", "replace").encode()
        declared = _DECLARED.match(text)
        if declared and declared.group(1).lower() not in (b"utf-16", b"utf-16le", b"utf-16be"):
            raise UnsafeXml(f"a UTF-16 document declaring {declared.group(1).decode()!r}")
        return "utf-16"
    if head[:1] == b"\x00" or head[1:2] == b"\x00":
        raise UnsafeXml("only UTF-8 and UTF-16 documents are accepted")
    text = data[3:400] if data.startswith(b"\xef\xbb\xbf") else data[:400]
    declared = _DECLARED.match(text)
    if declared and declared.group(1).lower() not in (b"utf-8", b"utf8"):
        raise UnsafeXml(
            f"encoding {declared.group(1).decode('ascii', 'replace')!r} is not "
            "accepted: send UTF-8 or UTF-16"
        )
    return "utf-8"


def _parser() -> etree.XMLParser:
    return safe_parser()


def parse_untrusted(data: bytes, *, limit: int = MAX_DOCUMENT_BYTES) -> etree._Element:
    """The document's root element. Raises UnsafeXml for anything but a plain document."""
    if not data.strip():
        raise UnsafeXml("empty document")
    if len(data) > limit:
        raise UnsafeXml(f"document larger than {limit} bytes")
    if _DECLARATION.search(data) or b"\x00" in data:
        raise UnsafeXml("DTD and entity declarations (or UTF-16) are not accepted")
    # flows may be ISO-8859-1 (pagoPA's own examples are): any 8-bit encoding libxml2 knows is
    # read; a NUL byte (UTF-16, UTF-32) was refused above, so no declaration escapes the check
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise UnsafeXml(f"not well-formed XML: {exc.msg}") from None
    if root.getroottree().docinfo.doctype:
        raise UnsafeXml("DTD declarations are not accepted")
    return root


# --- streaming (issue 21: a bank statement of 100,000 credits read in constant memory) -------

STREAM_CHUNK = 1 << 20
# the longest thing the declaration check must see whole across two chunks
_OVERLAP = 64


def iter_untrusted(
    chunks: Iterable[bytes], tags: Sequence[str], *, limit: int | None = None
) -> Iterator[etree._Element]:
    """The elements named in ``tags`` (Clark notation, ``{*}name`` for any namespace) of a
    document read chunk by chunk, each yielded
    once complete and then dropped (with what came before it), so a document of any length is
    read in constant memory. The same rules as ``parse_untrusted``, applied to each chunk as it
    comes (with an overlap, so a declaration split between two chunks is still seen): no DTD,
    entity or NUL byte, at most ``limit`` bytes (None: no limit). Raises UnsafeXml."""
    parser = etree.XMLPullParser(events=("end",), tag=list(tags), **_SAFE_OPTIONS)
    parser.resolvers.add(RefuseEveryUri())
    tail, seen = b"", 0
    checked = [False]  # the doctype, checked at the first element
    for chunk in chunks:
        if not chunk:
            continue
        seen += len(chunk)
        if limit is not None and seen > limit:
            raise UnsafeXml(f"document larger than {limit} bytes")
        window = tail + chunk
        if _DECLARATION.search(window) or b"\x00" in chunk:
            raise UnsafeXml("DTD and entity declarations (or UTF-16) are not accepted")
        tail = window[-_OVERLAP:]
        try:
            parser.feed(chunk)
            yield from _completed(parser, checked)
        except etree.XMLSyntaxError as exc:
            raise UnsafeXml(f"not well-formed XML: {exc.msg}") from None
    if not seen:
        raise UnsafeXml("empty document")
    try:
        parser.close()
    except etree.XMLSyntaxError as exc:
        raise UnsafeXml(f"not well-formed XML: {exc.msg}") from None
    yield from _completed(parser, checked)


def _completed(parser: etree.XMLPullParser, checked: list[bool]) -> Iterator[etree._Element]:
    for _event, element in parser.read_events():
        if not checked[0]:  # the prolog is read by the first element's end: check it once
            if element.getroottree().docinfo.doctype:
                raise UnsafeXml("DTD declarations are not accepted")
            checked[0] = True
        yield element
        element.clear(keep_tail=False)
        parent = element.getparent()
        while parent is not None and element.getprevious() is not None:
            del parent[0]  # what came before: already read
