"""debt_position.bulk_load_id: which bulk load created a position

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("debt_position") as batch:
        batch.add_column(sa.Column("bulk_load_id", sa.Integer(), nullable=True))
        batch.create_index(batch.f("ix_debt_position_bulk_load_id"), ["bulk_load_id"])
        batch.create_foreign_key(
            batch.f("fk_debt_position_bulk_load_id_bulk_load"),
            "bulk_load",
            ["bulk_load_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("debt_position") as batch:
        batch.drop_constraint(
            batch.f("fk_debt_position_bulk_load_id_bulk_load"), type_="foreignkey"
        )
        batch.drop_index(batch.f("ix_debt_position_bulk_load_id"))
        batch.drop_column("bulk_load_id")
