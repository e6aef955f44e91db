"""Issue 17 item 4: exported cells that a spreadsheet would run are written as text."""

from __future__ import annotations

import csv
import io

import sqlalchemy as sa

from hub import csvsafe
from hub.models import DebtPosition

FORMULA = "=cmd|' /C calc'!A0"


def test_formula_cells_get_a_quote_and_numbers_stay_numbers():
    out = io.StringIO()
    writer = csvsafe.writer(out, spreadsheet=True)
    writer.writerow([FORMULA, "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx", "-12,50", "+39", 7, None])
    cells = next(csv.reader(io.StringIO(out.getvalue()), delimiter=";"))
    assert cells == [
        "'" + FORMULA,
        "'+1+1",
        "'-2+3",
        "'@SUM(A1)",
        "'\tx",
        "'\rx",
        "-12,50",
        "+39",
        "7",
        "",
    ]
    assert out.getvalue().endswith("\r\n")


def test_the_dashboard_export_writes_a_debtor_formula_as_text(site):
    with site.factory.begin() as session:
        session.execute(sa.update(DebtPosition).values(debtor_name=FORMULA))
    site.login()
    answer = site.post("/ops/enti/77777777777/search.csv", {"csrf_token": site.csrf()})
    text = answer.body.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    names = {row[5] for row in rows[1:]}
    assert names == {"'" + FORMULA}
    assert answer.body.startswith(b"\xef\xbb\xbf")
