"""Daily reconciliation files (issue 18): the files, their delivery targets, deliveries, attempts

``daily_file`` one row per version of an Ente's zip for one service and business day;
``daily_file_target`` where an Ente wants its files (SFTP, FTPS, e-mail; all services or one);
``daily_file_delivery`` one file version for one target (retried, dead-lettered, replayed);
``daily_file_attempt`` every try (when, where, size, hash, outcome).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.db

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

DUE = "status IN ('pending', 'retrying', 'sending')"


def upgrade() -> None:
    op.create_table(
        "daily_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ente_id", sa.Integer(), nullable=False),
        sa.Column("service_code", sa.String(length=35), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("version", sa.SmallInteger(), nullable=False),
        sa.Column("file_name", sa.String(length=200), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("source_digest", sa.String(length=64), nullable=False),
        sa.Column("payments", sa.Integer(), nullable=False),
        sa.Column("total_cents", sa.BigInteger(), nullable=False),
        sa.Column("created_at", hub.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["ente_id"], ["ente.id"], name=op.f("fk_daily_file_ente_id_ente")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_daily_file")),
        sa.UniqueConstraint(
            "ente_id",
            "service_code",
            "business_date",
            "version",
            name=op.f("uq_daily_file_ente_id_service_code_business_date_version"),
        ),
    )
    op.create_index("ix_daily_file_day", "daily_file", ["business_date", "ente_id"])
    op.create_table(
        "daily_file_target",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ente_id", sa.Integer(), nullable=False),
        sa.Column("service_code", sa.String(length=35), nullable=True),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=True),
        sa.Column("port", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(length=100), nullable=True),
        sa.Column("secret", sa.String(length=500), nullable=True),
        sa.Column("private_key", sa.Text(), nullable=True),
        sa.Column("host_key", sa.String(length=2000), nullable=True),
        sa.Column("directory", sa.String(length=255), nullable=True),
        sa.Column("recipients", hub.db.JSONType, nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", hub.db.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('sftp', 'ftps', 'email')", name=op.f("ck_daily_file_target_kind")
        ),
        sa.ForeignKeyConstraint(
            ["ente_id"], ["ente.id"], name=op.f("fk_daily_file_target_ente_id_ente")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_daily_file_target")),
    )
    op.create_index(op.f("ix_daily_file_target_ente_id"), "daily_file_target", ["ente_id"])
    op.create_table(
        "daily_file_delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("ente_id", sa.Integer(), nullable=False),
        sa.Column("where", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("replays", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", hub.db.UTCDateTime(), nullable=True),
        sa.Column("lease_until", hub.db.UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("delivered_at", hub.db.UTCDateTime(), nullable=True),
        sa.Column("created_at", hub.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ente_id"], ["ente.id"], name=op.f("fk_daily_file_delivery_ente_id_ente")
        ),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["daily_file.id"],
            name=op.f("fk_daily_file_delivery_file_id_daily_file"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["target_id"],
            ["daily_file_target.id"],
            name=op.f("fk_daily_file_delivery_target_id_daily_file_target"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_daily_file_delivery")),
        sa.UniqueConstraint(
            "file_id", "target_id", name=op.f("uq_daily_file_delivery_file_id_target_id")
        ),
    )
    op.create_index(
        "ix_daily_file_delivery_due",
        "daily_file_delivery",
        ["next_attempt_at"],
        postgresql_where=sa.text(DUE),
        sqlite_where=sa.text(DUE),
    )
    op.create_index(
        "ix_daily_file_delivery_ente_status", "daily_file_delivery", ["ente_id", "status", "id"]
    )
    op.create_table(
        "daily_file_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("started_at", hub.db.UTCDateTime(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("where", sa.String(length=500), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=8), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["daily_file_delivery.id"],
            name=op.f("fk_daily_file_attempt_delivery_id_daily_file_delivery"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_daily_file_attempt")),
    )
    op.create_index(
        op.f("ix_daily_file_attempt_delivery_id"), "daily_file_attempt", ["delivery_id"]
    )


def downgrade() -> None:
    op.drop_table("daily_file_attempt")
    op.drop_table("daily_file_delivery")
    op.drop_table("daily_file_target")
    op.drop_table("daily_file")
