"""hub.xmlsafe.iter_untrusted: a document read chunk by chunk under the same rules as a whole
one (no DTD, entity or NUL, a size limit), its elements yielded in order and dropped."""

from __future__ import annotations

import pytest

from hub.xmlsafe import UnsafeXml, iter_untrusted

DOC = (
    b'<?xml version="1.0" encoding="UTF-8"?><D xmlns="urn:x"><S><A>1</A><N>a</N><N>b</N></S>'
    b"<S><A>2</A><N>c</N></S></D>"
)
TAGS = ["{urn:x}A", "{urn:x}N"]


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("size", [1, 3, 7, 1 << 20])
def test_elements_come_in_document_order_whatever_the_chunks(size):
    found = [(e.tag, e.text) for e in iter_untrusted(_chunks(DOC, size), TAGS)]
    assert found == [
        ("{urn:x}A", "1"),
        ("{urn:x}N", "a"),
        ("{urn:x}N", "b"),
        ("{urn:x}A", "2"),
        ("{urn:x}N", "c"),
    ]


def test_what_was_read_is_dropped():
    seen = []
    for element in iter_untrusted(_chunks(DOC, 5), TAGS):
        parent = element.getparent()
        seen.append(len(parent) if parent is not None else 0)
    assert max(seen) <= 2  # each element's earlier siblings are gone by then


@pytest.mark.parametrize(
    "document",
    [
        b'<!DOCTYPE D [<!ENTITY x "boom">]><D>&x;</D>',
        b'<?xml version="1.0"?>\n<!DOCTYPE D SYSTEM "file:///etc/passwd"><D/>',
        b"<D><!ENTITY x SYSTEM 'http://example.org/'></D>",
        b"<\x00D/>",
    ],
)
@pytest.mark.parametrize("size", [1, 4, 1 << 20])
def test_declarations_and_nul_bytes_are_refused_even_split_between_chunks(document, size):
    with pytest.raises(UnsafeXml):
        list(iter_untrusted(_chunks(document, size), TAGS))


def test_a_document_too_large_or_empty_or_not_well_formed_is_refused():
    with pytest.raises(UnsafeXml, match="larger"):
        list(iter_untrusted(_chunks(DOC, 10), TAGS, limit=50))
    with pytest.raises(UnsafeXml, match="empty"):
        list(iter_untrusted([], TAGS))
    with pytest.raises(UnsafeXml, match="well-formed"):
        list(iter_untrusted([b"<D><A>1</A>"], TAGS))
