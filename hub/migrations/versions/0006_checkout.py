"""Citizen checkout and level 1: carts, cart items, portals, nonces

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import hub.db

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "level1_portal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=140), nullable=False),
        sa.Column("enti", JSON, nullable=False),
        sa.Column("return_url_prefix", sa.String(length=500), nullable=False),
        sa.Column("notify_url", sa.String(length=500), nullable=True),
        sa.Column("notify_endpoint_id", sa.Integer(), nullable=True),
        sa.Column("legacy_buffer", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", hub.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["notify_endpoint_id"],
            ["webhook_endpoint.id"],
            name=op.f("fk_level1_portal_notify_endpoint_id_webhook_endpoint"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_level1_portal")),
        sa.UniqueConstraint("key_id", name=op.f("uq_level1_portal_key_id")),
    )
    op.create_table(
        "level1_nonce",
        sa.Column("portal_id", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("seen_at", hub.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["portal_id"],
            ["level1_portal.id"],
            ondelete="CASCADE",
            name=op.f("fk_level1_nonce_portal_id_level1_portal"),
        ),
        sa.PrimaryKeyConstraint("portal_id", "nonce", name=op.f("pk_level1_nonce")),
    )
    with op.batch_alter_table("level1_nonce", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_level1_nonce_seen_at"), ["seen_at"], unique=False)
    op.create_table(
        "checkout_cart",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("payer_email", sa.String(length=256), nullable=True),
        sa.Column("portal_id", sa.Integer(), nullable=True),
        sa.Column("external_id", sa.String(length=64), nullable=True),
        sa.Column("notified_at", hub.db.UTCDateTime(), nullable=True),
        sa.Column("return_url", sa.String(length=500), nullable=True),
        sa.Column("direct", sa.Boolean(), nullable=False),
        sa.Column("checkout_url", sa.String(length=500), nullable=True),
        sa.Column("created_at", hub.db.UTCDateTime(), nullable=False),
        sa.Column("submitted_at", hub.db.UTCDateTime(), nullable=True),
        sa.Column("finished_at", hub.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["portal_id"],
            ["level1_portal.id"],
            name=op.f("fk_checkout_cart_portal_id_level1_portal"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkout_cart")),
        sa.UniqueConstraint("public_id", name=op.f("uq_checkout_cart_public_id")),
        sa.UniqueConstraint(
            "portal_id", "external_id", name=op.f("uq_checkout_cart_portal_id_external_id")
        ),
    )
    with op.batch_alter_table("checkout_cart", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_checkout_cart_status"), ["status"], unique=False)
    op.create_table(
        "checkout_cart_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cart_id", sa.Integer(), nullable=False),
        sa.Column("ente_id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=True),
        sa.Column("option_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("description", sa.String(length=140), nullable=False),
        sa.Column("payer", JSON, nullable=True),
        sa.Column("form_data", JSON, nullable=True),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_checkout_cart_item_amount_positive")),
        sa.ForeignKeyConstraint(
            ["cart_id"],
            ["checkout_cart.id"],
            ondelete="CASCADE",
            name=op.f("fk_checkout_cart_item_cart_id_checkout_cart"),
        ),
        sa.ForeignKeyConstraint(
            ["ente_id"], ["ente.id"], name=op.f("fk_checkout_cart_item_ente_id_ente")
        ),
        sa.ForeignKeyConstraint(
            ["option_id"],
            ["payment_option.id"],
            name=op.f("fk_checkout_cart_item_option_id_payment_option"),
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["payment_service.id"],
            name=op.f("fk_checkout_cart_item_service_id_payment_service"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkout_cart_item")),
    )
    with op.batch_alter_table("checkout_cart_item", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_checkout_cart_item_cart_id"), ["cart_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("checkout_cart_item")
    op.drop_table("checkout_cart")
    op.drop_table("level1_nonce")
    op.drop_table("level1_portal")
