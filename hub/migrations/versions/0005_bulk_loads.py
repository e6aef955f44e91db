"""Bulk loads: uploaded files of debt positions, their checkpoint and their failed rows

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.db

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bulk_load",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=36), nullable=False),
        sa.Column("ente_id", sa.Integer(), nullable=False),
        sa.Column("file_format", sa.String(length=8), nullable=False),
        sa.Column("file_path", sa.String(length=500), nullable=False),
        sa.Column("file_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("publish", sa.Boolean(), nullable=False),
        sa.Column("cause", sa.String(length=200), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "running",
                "done",
                "failed",
                name="bulk_load_status",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("next_row", sa.Integer(), nullable=False),
        sa.Column("rows_done", sa.Integer(), nullable=False),
        sa.Column("rows_failed", sa.Integer(), nullable=False),
        sa.Column("positions_created", sa.Integer(), nullable=False),
        sa.Column("positions_unchanged", sa.Integer(), nullable=False),
        sa.Column("positions_failed", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("created_at", hub.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", hub.db.UTCDateTime(), nullable=False),
        sa.Column("finished_at", hub.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["ente_id"], ["ente.id"], name=op.f("fk_bulk_load_ente_id_ente")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bulk_load")),
        sa.UniqueConstraint("public_id", name=op.f("uq_bulk_load_public_id")),
    )
    with op.batch_alter_table("bulk_load", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bulk_load_ente_id"), ["ente_id"], unique=False)
    op.create_table(
        "bulk_load_error",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("load_id", sa.Integer(), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("iupd", sa.String(length=64), nullable=True),
        sa.Column("field", sa.String(length=100), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["load_id"],
            ["bulk_load.id"],
            ondelete="CASCADE",
            name=op.f("fk_bulk_load_error_load_id_bulk_load"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bulk_load_error")),
    )
    with op.batch_alter_table("bulk_load_error", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bulk_load_error_load_id"), ["load_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("bulk_load_error", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bulk_load_error_load_id"))
    op.drop_table("bulk_load_error")
    with op.batch_alter_table("bulk_load", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bulk_load_ente_id"))
    op.drop_table("bulk_load")
