"""Daily files (issue 18): test files, and support's given-up deliveries found by an index

``daily_file.test``: a file of the test receipts of an Ente or service active in test only
(hub.dailyfile.files); every existing file is real (server default false). The test and real
files of one service and day share the sequence of versions, so the unique constraint stays.

``ix_daily_file_delivery_status`` (status, id): support's *Deliveries given up* lists the dead
deliveries of every Ente, newest first (hub.dailyfile.delivery.given_up); the only index on
the status led with the Ente, so the list read the whole table.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("daily_file") as batch:
        batch.add_column(sa.Column("test", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_index(
        "ix_daily_file_delivery_status", "daily_file_delivery", ["status", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_daily_file_delivery_status", table_name="daily_file_delivery")
    with op.batch_alter_table("daily_file") as batch:
        batch.drop_column("test")
