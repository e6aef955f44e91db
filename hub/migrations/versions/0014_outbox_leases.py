"""Outbox rows finish when their consumer recorded them; webhook retries due in PostgreSQL

Outbox: ``lease_until`` (a sent row not processed by then is sent again), ``processed_at``
(written by the consumer's transaction) and ``dead_at`` (given up after the attempt cap).
Rows already sent before this revision count as processed when their message id is in
``processed_message`` or they sent a webhook (the delivery row carries its own retries); any
other sent row is re-sent once, which the consumer's duplicate check makes harmless.

Webhook deliveries: ``next_attempt_at`` (when the scheduler sends a pending or retrying
delivery) and ``expired_claims`` (leases that expired with the attempt's outcome unknown: each
is at most one duplicate post).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.db

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

OPEN = "processed_at IS NULL AND dead_at IS NULL"
DUE = "status IN ('pending', 'retrying', 'sending')"


def upgrade() -> None:
    with op.batch_alter_table("outbox_message") as batch:
        batch.add_column(sa.Column("lease_until", hub.db.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("processed_at", hub.db.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("dead_at", hub.db.UTCDateTime(), nullable=True))
        batch.drop_index("ix_outbox_message_unsent")
    op.execute(
        "UPDATE outbox_message SET processed_at = sent_at WHERE sent_at IS NOT NULL AND ("
        "actor_name = 'deliver_webhook' OR message_id IN "
        "(SELECT message_id FROM processed_message))"
    )
    op.create_index(
        "ix_outbox_message_open",
        "outbox_message",
        ["id"],
        postgresql_where=sa.text(OPEN),
        sqlite_where=sa.text(OPEN),
    )

    with op.batch_alter_table("webhook_delivery") as batch:
        batch.add_column(sa.Column("next_attempt_at", hub.db.UTCDateTime(), nullable=True))
        batch.add_column(
            sa.Column("expired_claims", sa.Integer(), nullable=False, server_default="0")
        )
    op.execute(
        "UPDATE webhook_delivery SET next_attempt_at = updated_at "
        "WHERE status IN ('pending', 'retrying')"
    )
    op.create_index(
        "ix_webhook_delivery_due",
        "webhook_delivery",
        ["next_attempt_at"],
        postgresql_where=sa.text(DUE),
        sqlite_where=sa.text(DUE),
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_delivery_due", table_name="webhook_delivery")
    with op.batch_alter_table("webhook_delivery") as batch:
        batch.drop_column("expired_claims")
        batch.drop_column("next_attempt_at")
    op.drop_index("ix_outbox_message_open", table_name="outbox_message")
    op.execute(
        "UPDATE outbox_message SET sent_at = NULL WHERE processed_at IS NULL AND dead_at IS NULL"
    )
    with op.batch_alter_table("outbox_message") as batch:
        batch.drop_column("dead_at")
        batch.drop_column("processed_at")
        batch.drop_column("lease_until")
        batch.create_index("ix_outbox_message_unsent", ["sent_at", "id"], unique=False)
