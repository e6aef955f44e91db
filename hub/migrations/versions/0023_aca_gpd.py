"""GPD-compatible API and ACA feed (issue 20): gpd_position (GPD-only facts of a position),
aca_ente (the per-Ente switch of the ACA feed), aca_sync (each position's state with ACA),
notification_fee (SEND's notification cost per option)

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
    op.create_table(
        "aca_ente",
        sa.Column(
            "ente_id",
            sa.Integer(),
            sa.ForeignKey("ente.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "aca_sync",
        sa.Column(
            "position_id",
            sa.Integer(),
            sa.ForeignKey("debt_position.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("queued_version", sa.Integer()),
        sa.Column("synced_version", sa.Integer()),
        sa.Column("aca_state", sa.String(16), nullable=False),
        sa.Column("paid_told", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(500)),
        sa.Column("attempted_at", UTCDateTime()),
        sa.Column("synced_at", UTCDateTime()),
    )
    op.create_index("ix_aca_sync_state", "aca_sync", ["state"])
    op.create_table(
        "notification_fee",
        sa.Column(
            "option_id",
            sa.Integer(),
            sa.ForeignKey("payment_option.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("fee_cents", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("notification_fee")
    op.drop_index("ix_aca_sync_state", table_name="aca_sync")
    op.drop_table("aca_sync")
    op.drop_table("aca_ente")
    op.drop_index("ix_gpd_position_publish_pending", table_name="gpd_position")
    op.drop_table("gpd_position")
