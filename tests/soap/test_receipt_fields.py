"""A receipt's own fields are read once (soap.receipts._Texts), exactly as lxml reads them."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from soap.receipts import _Texts

TAGS = ["receiptId", "noticeNumber", "fiscalCode", "outcome", "fee", "standIn"]


@given(
    st.lists(
        st.tuples(st.sampled_from(TAGS), st.none() | st.text("0123456789 .OKtrue", max_size=6)),
        max_size=8,
    )
)
def test_each_field_reads_as_lxmls_findtext(children):
    receipt = etree.Element("receipt")
    for tag, text in children:  # repeated tags, empty and absent ones included
        etree.SubElement(receipt, tag).text = text
    etree.SubElement(receipt, "debtor").append(etree.Element("fullName"))  # a parent field
    receipt.append(etree.Comment("not a field"))
    fields = _Texts(receipt)
    for tag in [*TAGS, "debtor", "missing"]:
        assert fields.findtext(tag) == receipt.findtext(tag), tag
