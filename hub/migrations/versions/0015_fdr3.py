"""FdR 3 flows (revisions, source, checkpoint per Ente) and receipt recovery

``reporting_flow`` gains ``source`` (``soap`` | ``fdr3``), ``revision`` and ``published_at``
(FdR 3), ``raw_json`` (an FdR 3 flow as fetched); ``raw_xml`` becomes optional (FdR 3 flows have
none). A SOAP flow stays unique per (Ente, flow id, dataOraFlusso); an FdR 3 flow per (Ente,
flow id, PSP, revision). ``reporting_entry.pay_status`` keeps FdR 3's ``payStatus``.
``fdr_checkpoint`` holds our ``publishedGt`` per Ente; ``receipt_recovery`` one row per receipt
we look for at pagoPA's receipts service; ``receipt_recovery_budget`` the calls made per day.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.db

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

SOAP_ROW = "revision IS NULL"
FDR3_ROW = "revision IS NOT NULL"
OPEN_RECOVERY = "status = 'pending'"


def upgrade() -> None:
    with op.batch_alter_table("reporting_flow") as batch:
        batch.add_column(
            sa.Column("source", sa.String(length=8), nullable=False, server_default="soap")
        )
        batch.add_column(sa.Column("revision", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("published_at", hub.db.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("raw_json", sa.Text(), nullable=True))
        batch.alter_column("raw_xml", existing_type=sa.Text(), nullable=True)
        batch.drop_constraint("uq_reporting_flow_ente_id_flow_id_flow_datetime", type_="unique")
    op.create_index(
        "uq_reporting_flow_soap_version",
        "reporting_flow",
        ["ente_id", "flow_id", "flow_datetime"],
        unique=True,
        postgresql_where=sa.text(SOAP_ROW),
        sqlite_where=sa.text(SOAP_ROW),
    )
    op.create_index(
        "uq_reporting_flow_fdr3_revision",
        "reporting_flow",
        ["ente_id", "flow_id", "psp_id", "revision"],
        unique=True,
        postgresql_where=sa.text(FDR3_ROW),
        sqlite_where=sa.text(FDR3_ROW),
    )
    with op.batch_alter_table("reporting_entry") as batch:
        batch.add_column(sa.Column("pay_status", sa.String(length=16), nullable=True))

    op.create_table(
        "fdr_checkpoint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ente_id", sa.Integer(), nullable=False),
        sa.Column("published_gt", hub.db.UTCDateTime(), nullable=True),
        sa.Column("polled_at", hub.db.UTCDateTime(), nullable=True),
        sa.Column("updated_at", hub.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ente_id"], ["ente.id"], name=op.f("fk_fdr_checkpoint_ente_id_ente")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fdr_checkpoint")),
        sa.UniqueConstraint("ente_id", name=op.f("uq_fdr_checkpoint_ente_id")),
    )

    op.create_table(
        "receipt_recovery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ente_id", sa.Integer(), nullable=False),
        sa.Column("iuv", sa.String(length=35), nullable=False),
        sa.Column("iur", sa.String(length=35), nullable=False, server_default=""),
        sa.Column("option_id", sa.Integer(), nullable=True),
        sa.Column("entry_pk", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("first_seen_at", hub.db.UTCDateTime(), nullable=False),
        sa.Column("last_attempt_at", hub.db.UTCDateTime(), nullable=True),
        sa.Column("next_attempt_at", hub.db.UTCDateTime(), nullable=True),
        sa.Column("finished_at", hub.db.UTCDateTime(), nullable=True),
        sa.Column("receipt_pk", sa.Integer(), nullable=True),
        sa.Column("detail", sa.String(length=255), nullable=True),
        sa.Column("requested_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["ente_id"], ["ente.id"], name=op.f("fk_receipt_recovery_ente_id_ente")
        ),
        sa.ForeignKeyConstraint(
            ["option_id"],
            ["payment_option.id"],
            name=op.f("fk_receipt_recovery_option_id_payment_option"),
        ),
        sa.ForeignKeyConstraint(
            ["entry_pk"],
            ["reporting_entry.id"],
            name=op.f("fk_receipt_recovery_entry_pk_reporting_entry"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["receipt_pk"], ["receipt.id"], name=op.f("fk_receipt_recovery_receipt_pk_receipt")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receipt_recovery")),
        sa.UniqueConstraint(
            "ente_id", "iuv", "iur", name=op.f("uq_receipt_recovery_ente_id_iuv_iur")
        ),
    )
    op.create_index(
        "ix_receipt_recovery_due",
        "receipt_recovery",
        ["next_attempt_at"],
        postgresql_where=sa.text(OPEN_RECOVERY),
        sqlite_where=sa.text(OPEN_RECOVERY),
    )
    op.create_index("ix_receipt_recovery_status", "receipt_recovery", ["status"])

    op.create_table(
        "receipt_recovery_budget",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_receipt_recovery_budget")),
    )


def downgrade() -> None:
    op.drop_table("receipt_recovery_budget")
    op.drop_index("ix_receipt_recovery_status", table_name="receipt_recovery")
    op.drop_index("ix_receipt_recovery_due", table_name="receipt_recovery")
    op.drop_table("receipt_recovery")
    op.drop_table("fdr_checkpoint")
    with op.batch_alter_table("reporting_entry") as batch:
        batch.drop_column("pay_status")
    op.execute("DELETE FROM reporting_flow WHERE revision IS NOT NULL")
    op.drop_index("uq_reporting_flow_fdr3_revision", table_name="reporting_flow")
    op.drop_index("uq_reporting_flow_soap_version", table_name="reporting_flow")
    with op.batch_alter_table("reporting_flow") as batch:
        batch.create_unique_constraint(
            "uq_reporting_flow_ente_id_flow_id_flow_datetime",
            ["ente_id", "flow_id", "flow_datetime"],
        )
        batch.alter_column("raw_xml", existing_type=sa.Text(), nullable=False)
        batch.drop_column("raw_json")
        batch.drop_column("published_at")
        batch.drop_column("revision")
        batch.drop_column("source")
