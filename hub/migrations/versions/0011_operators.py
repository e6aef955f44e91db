"""Operator dashboard accounts (operator_account, operator_ente); anomaly.resolved_by

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.db

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "operator_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", hub.db.UTCDateTime(), nullable=False),
        sa.Column("last_login_at", hub.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_account")),
        sa.UniqueConstraint("username", name=op.f("uq_operator_account_username")),
    )
    op.create_table(
        "operator_ente",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("ente_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["operator_account.id"],
            name=op.f("fk_operator_ente_account_id_operator_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ente_id"], ["ente.id"], name=op.f("fk_operator_ente_ente_id_ente"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("account_id", "ente_id", name=op.f("pk_operator_ente")),
    )
    with op.batch_alter_table("anomaly") as batch:
        batch.add_column(sa.Column("resolved_by", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("anomaly") as batch:
        batch.drop_column("resolved_by")
    op.drop_table("operator_ente")
    op.drop_table("operator_account")
