"""The SLA monitor's KPI outcomes and pruning (issue 19): ``sla_outcome`` counts the outcomes of
the answers pagoPA's KPIs B.5, B.6 and B.9 judge, per minute, station or Ente, and process;
``sla_probe_day`` keeps a pruned day's probes as one character per minute

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.db

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sla_outcome",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("minute", hub.db.UTCDateTime(), nullable=False),
        sa.Column("operation", sa.String(length=40), nullable=False),
        sa.Column("station", sa.String(length=35), nullable=False),
        sa.Column("ente", sa.String(length=35), nullable=False),
        sa.Column("outcome", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=80), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_outcome")),
        sa.UniqueConstraint(
            "minute",
            "operation",
            "station",
            "ente",
            "outcome",
            "source",
            name=op.f("uq_sla_outcome_minute_operation_station_ente_outcome_source"),
        ),
    )
    op.create_index(op.f("ix_sla_outcome_minute"), "sla_outcome", ["minute"])
    op.create_table(
        "sla_probe_day",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("minutes", sa.String(length=1440), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_probe_day")),
        sa.UniqueConstraint("day", "target", name=op.f("uq_sla_probe_day_day_target")),
    )


def downgrade() -> None:
    op.drop_table("sla_probe_day")
    op.drop_index(op.f("ix_sla_outcome_minute"), table_name="sla_outcome")
    op.drop_table("sla_outcome")
