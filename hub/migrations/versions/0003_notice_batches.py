"""Notice batches: PDF notices rendered into a zip, with progress

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import hub.db

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "notice_batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=36), nullable=False),
        sa.Column("ente_id", sa.Integer(), nullable=False),
        sa.Column("variant", sa.String(length=8), nullable=False),
        sa.Column("selection", JSON, nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "running",
                "done",
                "failed",
                name="notice_batch_status",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("rendered", sa.Integer(), nullable=False),
        sa.Column("zip_path", sa.String(length=500), nullable=True),
        sa.Column("zip_bytes", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("created_at", hub.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", hub.db.UTCDateTime(), nullable=False),
        sa.Column("finished_at", hub.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["ente_id"], ["ente.id"], name=op.f("fk_notice_batch_ente_id_ente")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_batch")),
        sa.UniqueConstraint("public_id", name=op.f("uq_notice_batch_public_id")),
    )
    with op.batch_alter_table("notice_batch", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notice_batch_ente_id"), ["ente_id"], unique=False)
    op.create_table(
        "notice_batch_item",
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("position_id", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.String(length=80), nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["notice_batch.id"],
            ondelete="CASCADE",
            name=op.f("fk_notice_batch_item_batch_id_notice_batch"),
        ),
        sa.ForeignKeyConstraint(
            ["position_id"],
            ["debt_position.id"],
            name=op.f("fk_notice_batch_item_position_id_debt_position"),
        ),
        sa.PrimaryKeyConstraint("batch_id", "seq", name=op.f("pk_notice_batch_item")),
    )
    with op.batch_alter_table("notice_batch_item", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notice_batch_item_todo", ["batch_id", "done", "seq"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("notice_batch_item", schema=None) as batch_op:
        batch_op.drop_index("ix_notice_batch_item_todo")
    op.drop_table("notice_batch_item")
    with op.batch_alter_table("notice_batch", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notice_batch_ente_id"))
    op.drop_table("notice_batch")
