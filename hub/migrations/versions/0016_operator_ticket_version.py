"""Dashboard login tickets carry the account's ticket version; logging out raises it

``operator_account.ticket_version``: a ticket cookie names the account and the version it was
issued under; logging out adds one, so a copied cookie stops working at once (before, it
worked until it expired, 8 hours later). Tickets issued before this revision name no version
and are refused: operators log in again once.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("operator_account") as batch:
        batch.add_column(
            sa.Column("ticket_version", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("operator_account") as batch:
        batch.drop_column("ticket_version")
