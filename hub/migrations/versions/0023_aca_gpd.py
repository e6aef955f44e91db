"""GPD-compatible API (issue 20): gpd_position, the GPD-only facts of a debt position

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from hub.db import UTCDateTime

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gpd_position",
        sa.Column(
            "position_id",
            sa.Integer(),
            sa.ForeignKey("debt_position.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("company_name", sa.String(140), nullable=False),
        sa.Column("office_name", sa.String(140)),
        sa.Column("validity_date", UTCDateTime()),
        sa.Column("publish_pending", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("switch_to_expired", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("pay_stand_in", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("deleted_at", UTCDateTime()),
        sa.Column(
            "extras",
            sa.JSON().with_variant(JSONB(), "postgresql"),
            nullable=False,
            server_default="{}",
        ),
    )
    op.create_index("ix_gpd_position_publish_pending", "gpd_position", ["publish_pending"])


def downgrade() -> None:
    op.drop_index("ix_gpd_position_publish_pending", table_name="gpd_position")
    op.drop_table("gpd_position")
