"""Activation and change requests (activation_request, activation_step); test and production:
station.test, payment_service.production, receipt.test; every existing Ente is in production

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.db

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "activation_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("ente_id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=True),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("paused_from", sa.String(length=24), nullable=True),
        sa.Column("opened_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", hub.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", hub.db.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('activation', 'change', 'deactivation')",
            name=op.f("ck_activation_request_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["ente_id"],
            ["ente.id"],
            name=op.f("fk_activation_request_ente_id_ente"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["payment_service.id"],
            name=op.f("fk_activation_request_service_id_payment_service"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activation_request")),
    )
    op.create_index(
        op.f("ix_activation_request_ente_id"), "activation_request", ["ente_id"], unique=False
    )
    op.create_index(
        op.f("ix_activation_request_state"), "activation_request", ["state"], unique=False
    )
    op.create_table(
        "activation_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("from_state", sa.String(length=24), nullable=True),
        sa.Column("to_state", sa.String(length=24), nullable=False),
        sa.Column("actor", sa.String(length=300), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("station_code", sa.String(length=35), nullable=True),
        sa.Column("at", hub.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["activation_request.id"],
            name=op.f("fk_activation_step_request_id_activation_request"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activation_step")),
    )
    op.create_index(
        op.f("ix_activation_step_request_id"), "activation_step", ["request_id"], unique=False
    )
    with op.batch_alter_table("station") as batch:
        batch.add_column(sa.Column("test", sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table("payment_service") as batch:
        batch.add_column(
            sa.Column("production", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
    with op.batch_alter_table("receipt") as batch:
        batch.add_column(sa.Column("test", sa.Boolean(), server_default=sa.false(), nullable=False))
    # existing data are live: every Ente served so far is in production
    op.execute(sa.text("UPDATE ente SET production = true"))
    with op.batch_alter_table("ente") as batch:
        batch.alter_column("production", server_default=sa.true())


def downgrade() -> None:
    with op.batch_alter_table("ente") as batch:
        batch.alter_column("production", server_default=None)
    with op.batch_alter_table("receipt") as batch:
        batch.drop_column("test")
    with op.batch_alter_table("payment_service") as batch:
        batch.drop_column("production")
    with op.batch_alter_table("station") as batch:
        batch.drop_column("test")
    op.drop_index(op.f("ix_activation_step_request_id"), table_name="activation_step")
    op.drop_table("activation_step")
    op.drop_index(op.f("ix_activation_request_state"), table_name="activation_request")
    op.drop_index(op.f("ix_activation_request_ente_id"), table_name="activation_request")
    op.drop_table("activation_request")
