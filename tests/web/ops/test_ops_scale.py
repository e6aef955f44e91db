"""The dashboard at scale: the CSV export streams every row (10,000 and more), and the lists
run as many SQL statements for many rows as for a few (no N+1)."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from bench.scale_data import fill
from hub import clock
from hub.models import Ente, PaymentOption
from hub.seed import DEMO_SUPPORT
from tests.statements import counted
from tests.web.ops.conftest import A

pytestmark = pytest.mark.pg


def _fill(ops, n: int, **kw) -> int:
    with ops.factory.begin() as session:
        ente = session.scalars(sa.select(Ente).where(Ente.fiscal_code == A)).one()
        fill(session, ente.id, n, segregation=ente.segregation_code, **kw)
        return session.scalar(sa.select(sa.func.count()).where(PaymentOption.ente_id == ente.id))


def test_the_csv_export_streams_every_one_of_10000_rows(ops):
    total = _fill(ops, 10_000, tag="EXP")
    assert total > 10_000
    ops.login()
    answer = ops.post(f"/ops/enti/{A}/search.csv", {}, status=200)
    lines = answer.body.decode("utf-8-sig").splitlines()
    assert len(lines) == 1 + total
    notices = [line.split(";")[2] for line in lines[1:]]
    assert len(set(notices)) == total  # each once: no row skipped or repeated between batches
    paid = ops.post(f"/ops/enti/{A}/search.csv", {"state": "paid"}, status=200)
    assert len(paid.body.decode("utf-8-sig").splitlines()) - 1 >= 3_000


# the overview's latest-transitions walk (hub.dashboard.latest_transitions): its window widens
# over the Ente's active days, a step (these two statements) per fourfold widening, so how many
# steps depends on how the random fill spread the days, not on the rows shown; bounded apart
WALK = ("SELECT state_count.day \nFROM state_count", "SELECT state_transition.id,")


def _statements(ops, pages: list[str]) -> dict[str, int]:
    found = {}
    for page in pages:
        with counted() as seen:
            ops.app.get(page, status=200)
        walk = [s for s in seen if s.startswith(WALK)]
        assert len(walk) <= 2 * 6  # 4**5 days cover the fill's 1,000: at most 6 steps
        found[page] = len(seen) - len(walk)
    return found


def test_the_operators_pages_run_as_many_statements_for_many_rows_as_for_few(ops):
    pages = [
        f"/ops/enti/{A}/",
        f"/ops/enti/{A}/search?state=payable",
        f"/ops/enti/{A}/search?state=paid",
        f"/ops/enti/{A}/search?iupd=FEW-1",
    ]
    _fill(ops, 3, tag="FEW")
    ops.login()
    few = _statements(ops, pages)
    _fill(ops, 300, tag="MANY")
    assert _statements(ops, pages) == few


def test_support_lists_run_as_many_statements_for_many_rows_as_for_few(ops):
    old = clock.now() - dt.timedelta(days=60)  # paid and reported long ago: listed as stuck
    _fill(ops, 10, tag="FEW", now=old, days=5)
    ops.login(DEMO_SUPPORT)
    pages = ["/ops/support/stuck", "/ops/support/anomalies"]
    few = _statements(ops, pages)
    _fill(ops, 300, tag="MANY", now=old, days=5)
    assert _statements(ops, pages) == few


def test_the_search_pages_with_a_keyset_through_every_result(ops):
    _fill(ops, 800, tag="PAGE")
    ops.login()
    with ops.factory() as session:
        expected = set(
            session.scalars(
                sa.select(PaymentOption.notice_number)
                .join(Ente, Ente.id == PaymentOption.ente_id)
                .where(Ente.fiscal_code == A, PaymentOption.status == "payable")
            )
        )
    assert len(expected) > 400
    seen: list[str] = []
    fields = {"state": "payable"}
    for _ in range(5):
        page = ops.post(f"/ops/enti/{A}/search", fields, status=200)
        seen += [a.text.strip() for a in page.html.select("table tbody tr td:first-child a")]
        button = page.html.select_one("button[name=after]")
        if button is None:
            break
        fields = {"state": "payable", "after": button["value"]}
    assert len(seen) == len(set(seen))  # no row twice
    assert {n.replace(" ", "") for n in seen} == expected
    ops.post(f"/ops/enti/{A}/search", {"state": "payable", "after": "x'"}, status=200)


def test_the_support_lists_are_bounded_and_page_by_id(db):
    from hub import dashboard
    from tests.factories import make_ente

    ente = make_ente(db)
    old = clock.now() - dt.timedelta(days=60)
    fill(db, ente.id, 30, tag="SUP", segregation=ente.segregation_code, now=old, days=5)
    first = dashboard.paid_not_reported(db, limit=4)
    assert len(first) == 4
    rest = dashboard.paid_not_reported(db, limit=100, after=first[-1][0].id)
    ids = [o.id for o, _ in first + rest]
    assert ids == sorted(ids) and len(ids) == len(set(ids)) == 9  # 30 options: 9 paid
