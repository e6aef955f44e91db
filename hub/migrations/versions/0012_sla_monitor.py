"""SLA monitor: answer times per minute, breaches, availability probes, help-desk tickets

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.db

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sla_minute",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("minute", hub.db.UTCDateTime(), nullable=False),
        sa.Column("operation", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=80), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("over_threshold", sa.Integer(), nullable=False),
        sa.Column("total_seconds", sa.Float(), nullable=False),
        sa.Column("max_seconds", sa.Float(), nullable=False),
        sa.Column("histogram", hub.db.JSONType, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_minute")),
        sa.UniqueConstraint(
            "minute", "operation", "source", name=op.f("uq_sla_minute_minute_operation_source")
        ),
    )
    op.create_table(
        "sla_breach",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("operation", sa.String(length=40), nullable=False),
        sa.Column("window_start", hub.db.UTCDateTime(), nullable=False),
        sa.Column("window_end", hub.db.UTCDateTime(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("worst_share", sa.Float(), nullable=False),
        sa.Column("opened_at", hub.db.UTCDateTime(), nullable=False),
        sa.Column("closed_at", hub.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_breach")),
    )
    op.create_index(op.f("ix_sla_breach_operation"), "sla_breach", ["operation"])
    op.create_table(
        "sla_probe",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", hub.db.UTCDateTime(), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("ms", sa.Float(), nullable=False),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_probe")),
    )
    op.create_index(op.f("ix_sla_probe_at"), "sla_probe", ["at"])
    op.create_table(
        "sla_ticket",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("ente_code", sa.String(length=35), nullable=True),
        sa.Column("priority", sa.String(length=8), nullable=False),
        sa.Column("opened_at", hub.db.UTCDateTime(), nullable=False),
        sa.Column("response_due_at", hub.db.UTCDateTime(), nullable=False),
        sa.Column("resolution_due_at", hub.db.UTCDateTime(), nullable=False),
        sa.Column("responded_at", hub.db.UTCDateTime(), nullable=True),
        sa.Column("resolved_at", hub.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_ticket")),
    )
    op.create_index(op.f("ix_sla_ticket_opened_at"), "sla_ticket", ["opened_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_sla_ticket_opened_at"), table_name="sla_ticket")
    op.drop_table("sla_ticket")
    op.drop_index(op.f("ix_sla_probe_at"), table_name="sla_probe")
    op.drop_table("sla_probe")
    op.drop_index(op.f("ix_sla_breach_operation"), table_name="sla_breach")
    op.drop_table("sla_breach")
    op.drop_table("sla_minute")
