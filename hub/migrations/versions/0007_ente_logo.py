"""ente.logo: the Ente's logo printed on its payment notices

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ente", sa.Column("logo", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ente") as batch:
        batch.drop_column("logo")
