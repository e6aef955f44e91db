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


def test_a_receipt_built_at_once_is_what_the_constructor_builds_and_inserts_the_same(db):
    import datetime as _dt

    import sqlalchemy as sa

    from hub.models import Receipt
    from soap.receipts import _new_receipt

    mapper = sa.inspect(Receipt)
    # what _new_receipt skips must not matter: no relationship, and no listener on setting a
    # column (a validator or a mutable type, MutableDict included, adds one)
    assert not mapper.relationships
    assert not [p.key for p in mapper.column_attrs if getattr(Receipt, p.key).dispatch.set]
    values = {
        "ec_fiscal_code": "77777777777",
        "receipt_id": "rcpt-at-once",
        "primitive_version": 2,
        "notice_number": "301000000000000001",
        "creditor_reference_id": "01000000000000001",
        "payment_amount_cents": 1250,
        "description": "TARI",
        "company_name": "Comune",
        "outcome": "OK",
        "debtor": {"fullName": "Mario Rossi", "uniqueIdentifierType": "F"},
        "debtor_fiscal_code": "RSSMRA80A01H501U",
        "fee_cents": 100,
        "payment_date_time": _dt.datetime(2026, 12, 7, 10, 0, tzinfo=_dt.UTC),
        "standin": False,
        "transfers": [{"idTransfer": "1", "transferAmount": "12.50"}],
        "raw_xml": "<receipt/>",
        "received_at": _dt.datetime(2026, 12, 7, 10, 0, 1, tzinfo=_dt.UTC),
    }
    built, constructed = _new_receipt(**values), Receipt(**values)
    assert sa.inspect(built).transient and built.__dict__.keys() >= values.keys()
    constructed.receipt_id = "rcpt-constructed"
    db.add_all([built, constructed])
    db.flush()
    db.expire_all()
    columns = [c.key for c in mapper.column_attrs if c.key not in ("id", "receipt_id")]
    read = {
        r.receipt_id: {k: getattr(r, k) for k in columns}
        for r in db.scalars(sa.select(Receipt).where(Receipt.id.in_([built.id, constructed.id])))
    }
    assert read["rcpt-at-once"] == read["rcpt-constructed"]
    assert read["rcpt-at-once"]["debtor"] == values["debtor"]
