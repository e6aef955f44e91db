"""Stand-In probes: when pagoPA last probed a station (the Stand-In manager's paVerify)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.db

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "standin_probe",
        sa.Column("station_code", sa.String(length=64), nullable=False),
        sa.Column("broker_code", sa.String(length=64), nullable=False),
        sa.Column("first_at", hub.db.UTCDateTime(), nullable=False),
        sa.Column("last_at", hub.db.UTCDateTime(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("station_code", name=op.f("pk_standin_probe")),
    )


def downgrade() -> None:
    op.drop_table("standin_probe")
