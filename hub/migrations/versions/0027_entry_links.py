"""reporting_entry: its links to the receipt and the option without foreign keys (issue 14)

An entry's ``receipt_pk`` and ``option_id`` are what the matching found, written by one COPY
per batch of a flow (100,000 entries for a large PSP's day). PostgreSQL checked each of them
against its table row by row (a query per link, and a row lock on the receipt: a write per
entry), about a fifth of the time a large flow takes to store. Receipts and options are never
deleted (nothing in payhub deletes them; receipts are kept for the legal retention), and the
matching reads both, under lock for the option, in the transaction that writes the entry, so
the check could never fail. Both columns keep their indexes. The link to the flow keeps its
foreign key (deleting a flow deletes its entries).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reporting_entry") as batch:
        batch.drop_constraint("fk_reporting_entry_receipt_pk_receipt", type_="foreignkey")
        batch.drop_constraint("fk_reporting_entry_option_id_payment_option", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("reporting_entry") as batch:
        batch.create_foreign_key(
            "fk_reporting_entry_option_id_payment_option", "payment_option", ["option_id"], ["id"]
        )
        batch.create_foreign_key(
            "fk_reporting_entry_receipt_pk_receipt", "receipt", ["receipt_pk"], ["id"]
        )
