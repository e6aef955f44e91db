"""Reporting flows (FdR) with their entries, bank credits; anomalies name a flow or a credit

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.db

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reporting_flow",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ente_id", sa.Integer(), nullable=False),
        sa.Column("flow_id", sa.String(length=35), nullable=False),
        sa.Column("flow_datetime", sa.DateTime(), nullable=False),
        sa.Column("psp_id", sa.String(length=35), nullable=False),
        sa.Column("psp_name", sa.String(length=70), nullable=True),
        sa.Column("bic", sa.String(length=35), nullable=True),
        sa.Column("settlement_id", sa.String(length=35), nullable=False),
        sa.Column("settlement_date", sa.Date(), nullable=False),
        sa.Column("declared_count", sa.Integer(), nullable=False),
        sa.Column("declared_total_cents", sa.BigInteger(), nullable=False),
        sa.Column("computed_count", sa.Integer(), nullable=False),
        sa.Column("computed_total_cents", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("raw_xml", sa.Text(), nullable=False),
        sa.Column("received_at", hub.db.UTCDateTime(), nullable=False),
        sa.Column("reconciled_at", hub.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["ente_id"], ["ente.id"], name=op.f("fk_reporting_flow_ente_id_ente")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reporting_flow")),
        sa.UniqueConstraint(
            "ente_id",
            "flow_id",
            "flow_datetime",
            name=op.f("uq_reporting_flow_ente_id_flow_id_flow_datetime"),
        ),
    )
    with op.batch_alter_table("reporting_flow") as batch:
        batch.create_index(batch.f("ix_reporting_flow_ente_id"), ["ente_id"])
        batch.create_index(batch.f("ix_reporting_flow_flow_id"), ["flow_id"])
        batch.create_index(batch.f("ix_reporting_flow_status"), ["status"])

    op.create_table(
        "bank_credit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ente_id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("value_date", sa.Date(), nullable=False),
        sa.Column("booking_date", sa.Date(), nullable=True),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=True),
        sa.Column("counterparty", sa.String(length=140), nullable=True),
        sa.Column("iban", sa.String(length=35), nullable=True),
        sa.Column("flow_id", sa.String(length=35), nullable=True),
        sa.Column("source_file", sa.String(length=255), nullable=False),
        sa.Column("source_line", sa.Integer(), nullable=False),
        sa.Column("flow_pk", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("received_at", hub.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["ente_id"], ["ente.id"], name=op.f("fk_bank_credit_ente_id_ente")),
        sa.ForeignKeyConstraint(
            ["flow_pk"], ["reporting_flow.id"], name=op.f("fk_bank_credit_flow_pk_reporting_flow")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_credit")),
        sa.UniqueConstraint(
            "ente_id", "fingerprint", name=op.f("uq_bank_credit_ente_id_fingerprint")
        ),
    )
    with op.batch_alter_table("bank_credit") as batch:
        batch.create_index(batch.f("ix_bank_credit_ente_id"), ["ente_id"])
        batch.create_index(batch.f("ix_bank_credit_flow_id"), ["flow_id"])
        batch.create_index(batch.f("ix_bank_credit_flow_pk"), ["flow_pk"])
        batch.create_index(batch.f("ix_bank_credit_status"), ["status"])

    op.create_table(
        "reporting_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("flow_pk", sa.Integer(), nullable=False),
        sa.Column("iuv", sa.String(length=35), nullable=False),
        sa.Column("iur", sa.String(length=35), nullable=False),
        sa.Column("transfer_index", sa.SmallInteger(), nullable=True),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("outcome_code", sa.String(length=1), nullable=False),
        sa.Column("outcome_date", sa.Date(), nullable=False),
        sa.Column("match", sa.String(length=16), nullable=False),
        sa.Column("receipt_pk", sa.Integer(), nullable=True),
        sa.Column("option_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["flow_pk"],
            ["reporting_flow.id"],
            name=op.f("fk_reporting_entry_flow_pk_reporting_flow"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["option_id"],
            ["payment_option.id"],
            name=op.f("fk_reporting_entry_option_id_payment_option"),
        ),
        sa.ForeignKeyConstraint(
            ["receipt_pk"], ["receipt.id"], name=op.f("fk_reporting_entry_receipt_pk_receipt")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reporting_entry")),
    )
    with op.batch_alter_table("reporting_entry") as batch:
        batch.create_index(batch.f("ix_reporting_entry_flow_pk"), ["flow_pk"])
        batch.create_index(batch.f("ix_reporting_entry_iuv"), ["iuv"])
        batch.create_index(batch.f("ix_reporting_entry_option_id"), ["option_id"])
        batch.create_index(batch.f("ix_reporting_entry_receipt_pk"), ["receipt_pk"])

    with op.batch_alter_table("anomaly") as batch:
        batch.add_column(sa.Column("flow_pk", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("credit_pk", sa.Integer(), nullable=True))
        batch.create_index(batch.f("ix_anomaly_flow_pk"), ["flow_pk"])
        batch.create_index(batch.f("ix_anomaly_credit_pk"), ["credit_pk"])
        batch.create_foreign_key(
            batch.f("fk_anomaly_flow_pk_reporting_flow"), "reporting_flow", ["flow_pk"], ["id"]
        )
        batch.create_foreign_key(
            batch.f("fk_anomaly_credit_pk_bank_credit"), "bank_credit", ["credit_pk"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("anomaly") as batch:
        batch.drop_constraint(batch.f("fk_anomaly_credit_pk_bank_credit"), type_="foreignkey")
        batch.drop_constraint(batch.f("fk_anomaly_flow_pk_reporting_flow"), type_="foreignkey")
        batch.drop_index(batch.f("ix_anomaly_credit_pk"))
        batch.drop_index(batch.f("ix_anomaly_flow_pk"))
        batch.drop_column("credit_pk")
        batch.drop_column("flow_pk")
    op.drop_table("reporting_entry")
    op.drop_table("bank_credit")
    op.drop_table("reporting_flow")
