"""Migrations: the schema they build is the models' schema, and they go down and up again."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from hub.db import Base
from hub.migrate import downgrade, upgrade


def _diff(engine: sa.Engine) -> list:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), Base.metadata)


def test_sqlite_schema_matches_the_models_and_survives_down_and_up(sqlite_engine):
    assert _diff(sqlite_engine) == []
    downgrade(sqlite_engine, "base")
    assert sa.inspect(sqlite_engine).get_table_names() == ["alembic_version"]
    upgrade(sqlite_engine)
    assert _diff(sqlite_engine) == []


@pytest.mark.pg
def test_postgresql_schema_matches_the_models(pg_engine):
    assert _diff(pg_engine) == []
