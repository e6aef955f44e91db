"""``sql.among`` on PostgreSQL (integers as an array literal cast by the server) selects
exactly the rows whose value is among those given, whatever the strings hold (quotes,
backslashes, commas, braces, spaces, accents, longer than the column), and integers alike."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.models import Ente
from hub.reconciliation.sql import among, array_literal
from tests.factories import make_ente

pytestmark = pytest.mark.pg
texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    stored=st.lists(texts, min_size=1, max_size=8, unique=True), asked=st.lists(texts, max_size=8)
)
def test_strings_among_an_array_literal_are_exactly_those_asked(db, stored, asked):
    table = sa.values(sa.column("v", sa.String(35)), name="t").data([(s,) for s in stored])
    found = db.scalars(sa.select(table.c.v).where(among(db, table.c.v, asked))).all()
    assert sorted(found) == sorted(set(stored) & set(asked))


def test_a_value_longer_than_the_column_is_not_cut_to_match(db):
    ente = make_ente(db)
    longer = ente.fiscal_code + "X" * 30
    assert db.scalars(sa.select(Ente.id).where(among(db, Ente.fiscal_code, [longer]))).all() == []
    assert db.scalars(
        sa.select(Ente.id).where(among(db, Ente.fiscal_code, [ente.fiscal_code]))
    ).all() == [ente.id]


def test_integers_and_other_values():
    assert array_literal([3, 1, 2]) == "{3,1,2}"
    assert array_literal(["a", 1]) is None  # strings are bound as a list
    assert array_literal([True]) is None and array_literal([None]) is None
