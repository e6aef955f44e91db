"""The outbox's rows never sent, found by an index of their own (issue 21)

``ix_outbox_message_unsent`` (id, partial): the relay loop (actors.outbox.relay_unsent, in
the scheduler) looks for the messages nobody has sent yet several times a second; the open
rows' index also holds every row sent and not yet processed, which a busy station keeps by
the thousand.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

UNSENT = "lease_until IS NULL AND last_error IS NULL AND processed_at IS NULL AND dead_at IS NULL"


def upgrade() -> None:
    op.create_index(
        "ix_outbox_message_unsent",
        "outbox_message",
        ["id"],
        unique=False,
        postgresql_where=sa.text(UNSENT),
        sqlite_where=sa.text(UNSENT),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_message_unsent", table_name="outbox_message")
