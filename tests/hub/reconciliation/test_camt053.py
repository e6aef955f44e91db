"""camt.053.001.02 read entry by entry: what each booked credit becomes, field by field."""

from __future__ import annotations

import datetime as dt

import pytest

from hub.reconciliation.statements import InvalidStatement, StatementLine, read_statement

NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"
IBAN_A, IBAN_B = "IT60X0542811101000000123456", "IT02A0301503200000003517230"
FLOW = "2026-12-01BCITITMM-S0001"


def camt(*statements: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Document xmlns="{NS}"><BkToCstmrStmt>'
        + "".join(statements)
        + "</BkToCstmrStmt></Document>"
    ).encode()


def stmt(iban: str, *entries: str) -> str:
    return f"<Stmt><Id>S</Id><Acct><Id><IBAN>{iban}</IBAN></Id></Acct>{''.join(entries)}</Stmt>"


def ntry(body: str, *, amount: str = "150.00", ccy: str = "EUR", kind: str = "CRDT") -> str:
    return (
        f'<Ntry><Amt Ccy="{ccy}">{amount}</Amt><CdtDbtInd>{kind}</CdtDbtInd><Sts>BOOK</Sts>'
        f"<BookgDt><Dt>2026-12-05</Dt></BookgDt>{body}</Ntry>"
    )


def test_a_batched_entry_gives_one_credit_per_transaction_with_its_own_amount():
    tx = (
        "<TxDtls><Refs><AcctSvcrRef>{ref}</AcctSvcrRef></Refs><AmtDtls><TxAmt>"
        '<Amt Ccy="EUR">{amount}</Amt></TxAmt></AmtDtls><RltdPties><Dbtr><Nm>{who}</Nm></Dbtr>'
        "</RltdPties><RmtInf><Ustrd>/PUR/LGPE-RIVERSAMENTO/URI/</Ustrd><Ustrd>{flow}</Ustrd>"
        "</RmtInf></TxDtls>"
    )
    body = (
        "<ValDt><Dt>2026-12-04</Dt></ValDt><NtryDtls>"
        + tx.format(ref="R1", amount="100.00", who="Banca A", flow=FLOW)
        + tx.format(ref="R2", amount="50.00", who="Banca B", flow="other")
        + "</NtryDtls>"
    )
    lines = read_statement(camt(stmt(IBAN_A, ntry(body))))
    assert lines == [
        StatementLine(
            line=1,
            value_date=dt.date(2026, 12, 4),
            booking_date=dt.date(2026, 12, 5),
            amount_cents=10000,
            description=f"/PUR/LGPE-RIVERSAMENTO/URI/{FLOW}",
            reference="R1",
            counterparty="Banca A",
            iban=IBAN_A,
        ),
        StatementLine(
            line=1,
            value_date=dt.date(2026, 12, 4),
            booking_date=dt.date(2026, 12, 5),
            amount_cents=5000,
            description="/PUR/LGPE-RIVERSAMENTO/URI/other",
            reference="R2",
            counterparty="Banca B",
            iban=IBAN_A,
        ),
    ]
    assert lines[0].flow_id == FLOW


def test_an_entry_without_details_reads_its_own_reference_and_additional_information():
    body = (
        "<ValDt><DtTm>2026-12-03T23:30:00</DtTm></ValDt><AcctSvcrRef>E9</AcctSvcrRef>"
        "<AddtlNtryInf>  bonifico  </AddtlNtryInf>"
    )
    (line,) = read_statement(camt(stmt(IBAN_A, ntry(body, amount="0.5"))))
    assert (line.value_date, line.amount_cents, line.reference, line.description) == (
        dt.date(2026, 12, 3),
        50,
        "E9",
        "bonifico",
    )
    assert line.counterparty is None


def test_without_a_value_date_the_booking_date_is_used():
    (line,) = read_statement(camt(stmt(IBAN_A, ntry("<ValDt><Dt></Dt></ValDt>"))))
    assert line.value_date == line.booking_date == dt.date(2026, 12, 5)


def test_debits_and_pending_entries_are_skipped_but_counted_in_the_numbering():
    pending = ntry("").replace("<Sts>BOOK</Sts>", "<Sts>PDNG</Sts>")
    lines = read_statement(
        camt(stmt(IBAN_A, ntry("", kind="DBIT"), pending, ntry("", amount="7.00")))
    )
    assert [(s.line, s.amount_cents) for s in lines] == [(3, 700)]


def test_each_statement_has_its_account_and_its_own_numbering():
    lines = read_statement(
        camt(stmt(IBAN_A, ntry(""), ntry("")), stmt(IBAN_B, ntry("", amount="1.00")))
    )
    assert [(s.iban, s.line) for s in lines] == [(IBAN_A, 1), (IBAN_A, 2), (IBAN_B, 1)]


def test_a_credit_in_another_currency_is_refused_naming_the_entry():
    with pytest.raises(InvalidStatement, match=r"entry 2: currency 'USD', not EUR"):
        read_statement(camt(stmt(IBAN_A, ntry(""), ntry("", ccy="USD"))))
