"""receipt: indexes for an Ente's receipts by IUV and newest first (the first replaces
ix_receipt_ente_id, which both lead with)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_receipt_ente_id_creditor_reference_id", "receipt", ["ente_id", "creditor_reference_id"]
    )
    op.create_index(
        "ix_receipt_ente_id_received_at_id", "receipt", ["ente_id", "received_at", "id"]
    )
    op.drop_index("ix_receipt_ente_id", table_name="receipt")


def downgrade() -> None:
    op.create_index("ix_receipt_ente_id", "receipt", ["ente_id"])
    op.drop_index("ix_receipt_ente_id_received_at_id", table_name="receipt")
    op.drop_index("ix_receipt_ente_id_creditor_reference_id", table_name="receipt")
