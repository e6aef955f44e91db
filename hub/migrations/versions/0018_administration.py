"""Administration of intermediaries, stations, Enti and services (issue 15)

``station`` gains its pagoPA credentials (``password``, ``subscription_key``); ``ente`` the
referente's surname and phone, the technical contact's phone and a support contact;
``api_key`` an ``intermediary_id`` (a key of the intermediary's administration API).
``ente_iban`` registers each Ente's accounts with their validity.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

ENTE_COLUMNS = (
    ("referente_surname", 140),
    ("referente_phone", 32),
    ("technical_contact_phone", 32),
    ("support_contact_name", 140),
    ("support_contact_email", 256),
    ("support_contact_phone", 32),
)


def upgrade() -> None:
    with op.batch_alter_table("station") as batch:
        batch.add_column(sa.Column("password", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("subscription_key", sa.String(length=128), nullable=True))
    with op.batch_alter_table("ente") as batch:
        for name, length in ENTE_COLUMNS:
            batch.add_column(sa.Column(name, sa.String(length=length), nullable=True))
    with op.batch_alter_table("api_key") as batch:
        batch.add_column(sa.Column("intermediary_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_api_key_intermediary_id_intermediary", "intermediary", ["intermediary_id"], ["id"]
        )
    op.create_table(
        "ente_iban",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ente_id", sa.Integer(), nullable=False),
        sa.Column("iban", sa.String(length=35), nullable=False),
        sa.Column("postal", sa.Boolean(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("description", sa.String(length=140), nullable=True),
        sa.ForeignKeyConstraint(
            ["ente_id"], ["ente.id"], name="fk_ente_iban_ente_id_ente", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_ente_iban"),
        sa.UniqueConstraint("ente_id", "iban", name="uq_ente_iban_ente_id_iban"),
    )
    op.create_index("ix_ente_iban_ente_id", "ente_iban", ["ente_id"])


def downgrade() -> None:
    op.drop_index("ix_ente_iban_ente_id", table_name="ente_iban")
    op.drop_table("ente_iban")
    with op.batch_alter_table("api_key") as batch:
        batch.drop_constraint("fk_api_key_intermediary_id_intermediary", type_="foreignkey")
        batch.drop_column("intermediary_id")
    with op.batch_alter_table("ente") as batch:
        for name, _length in reversed(ENTE_COLUMNS):
            batch.drop_column(name)
    with op.batch_alter_table("station") as batch:
        batch.drop_column("subscription_key")
        batch.drop_column("password")
