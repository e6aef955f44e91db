"""aca_upload: the bulk loads to ACA (gpd-4-aca_massive_v2.json, hub.aca_bulk)

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from hub.db import UTCDateTime

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aca_upload",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "ente_id", sa.Integer(), sa.ForeignKey("ente.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("versions", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
        sa.Column("file_id", sa.String(100)),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("polls", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(500)),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("attempted_at", UTCDateTime()),
        sa.Column("done_at", UTCDateTime()),
    )
    op.create_index("ix_aca_upload_state", "aca_upload", ["state"])


def downgrade() -> None:
    op.drop_index("ix_aca_upload_state", table_name="aca_upload")
    op.drop_table("aca_upload")
