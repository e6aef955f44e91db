"""FdR 3 flows stored page by page: ``reporting_flow_page``

An FdR 3 flow's payments as fetched go in one row per page (``payments_json``: the page's
``data`` array), so ingesting a flow of 100,000 payments never holds its JSON whole;
``reporting_flow.raw_json`` keeps the flow's own SingleFlowResponse (``{"flow": ...}``).
Flows stored before keep their payments inside ``raw_json``.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reporting_flow_page",
        sa.Column("flow_pk", sa.Integer(), nullable=False),
        sa.Column("page", sa.Integer(), nullable=False),
        sa.Column("payments_json", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["flow_pk"],
            ["reporting_flow.id"],
            name=op.f("fk_reporting_flow_page_flow_pk_reporting_flow"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("flow_pk", "page", name=op.f("pk_reporting_flow_page")),
    )


def downgrade() -> None:
    op.drop_table("reporting_flow_page")
