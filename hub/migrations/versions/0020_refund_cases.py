"""Refund cases: money collected that the Ente gives back by bank transfer (issue 16)

``refund_case``: one per double payment, amount beyond the notice, payment of a cancelled or
expired notice (opened with its anomaly) or citizen's request (opened by support); its status
is driven by workflows.refund.RefundFlow. Plans becoming exclusive needs no schema change.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub.db import UTCDateTime

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "refund_case",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(36), nullable=False),
        sa.Column("ente_id", sa.Integer(), nullable=False),
        sa.Column("option_id", sa.Integer(), nullable=True),
        sa.Column("receipt_pk", sa.Integer(), nullable=True),
        sa.Column("anomaly_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.String(2000), nullable=True),
        sa.Column("opened_by", sa.String(100), nullable=False),
        sa.Column("decided_by", sa.String(100), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("rejection_reason", sa.String(2000), nullable=True),
        sa.Column("payer_iban", sa.String(34), nullable=True),
        sa.Column("ordered_by", sa.String(100), nullable=True),
        sa.Column("ordered_at", UTCDateTime(), nullable=True),
        sa.Column("bank_reference", sa.String(100), nullable=True),
        sa.Column("refunded_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_refund_case_amount_positive")),
        sa.ForeignKeyConstraint(["ente_id"], ["ente.id"], name=op.f("fk_refund_case_ente_id_ente")),
        sa.ForeignKeyConstraint(
            ["option_id"],
            ["payment_option.id"],
            name=op.f("fk_refund_case_option_id_payment_option"),
        ),
        sa.ForeignKeyConstraint(
            ["receipt_pk"], ["receipt.id"], name=op.f("fk_refund_case_receipt_pk_receipt")
        ),
        sa.ForeignKeyConstraint(
            ["anomaly_id"], ["anomaly.id"], name=op.f("fk_refund_case_anomaly_id_anomaly")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refund_case")),
        sa.UniqueConstraint("public_id", name=op.f("uq_refund_case_public_id")),
        sa.UniqueConstraint("anomaly_id", name=op.f("uq_refund_case_anomaly_id")),
    )
    for column in ("ente_id", "option_id", "receipt_pk", "status"):
        op.create_index(op.f(f"ix_refund_case_{column}"), "refund_case", [column])


def downgrade() -> None:
    op.drop_table("refund_case")
