"""The REST list at scale: a page runs as many SQL statements for 50 positions as for 2
(options and transfers loaded together, not one query per position)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bench.scale_data import fill
from hub.models import Ente
from tests.statements import counted

pytestmark = pytest.mark.pg


def test_a_page_of_the_list_runs_as_many_statements_for_50_positions_as_for_2(world):
    with world.factory.begin() as session:
        ente = session.scalars(sa.select(Ente).where(Ente.fiscal_code == world.ente)).one()
        fill(session, ente.id, 120, tag="LIST", segregation=ente.segregation_code)
    seen = {}
    for limit in (2, 50):
        with counted() as statements:
            page = world.app.get(world.url(f"?limit={limit}"), headers=world.auth()).json
        assert len(page["items"]) == limit
        assert all(p["options"][0]["transfers"] for p in page["items"])
        seen[limit] = len(statements)
    assert seen[50] == seen[2]
