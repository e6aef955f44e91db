"""``setbased.among`` on PostgreSQL (one array parameter) selects exactly the rows whose value is
among those given, whatever the strings hold (quotes, backslashes, commas, braces, spaces,
accents)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.payments.setbased import among

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
def test_strings_among_an_array_parameter_are_exactly_those_asked(db, stored, asked):
    table = sa.values(sa.column("v", sa.String(35)), name="t").data([(s,) for s in stored])
    found = db.scalars(sa.select(table.c.v).where(among(db, table.c.v, asked))).all()
    assert sorted(found) == sorted(set(stored) & set(asked))
