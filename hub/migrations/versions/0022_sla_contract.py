"""The SLA contract (issue 19): help-desk tickets with reporter, owner, severity, state and
history; planned maintenance windows; the monitor's mail queue; alert incidents

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.db

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

_TICKET_COLUMNS = (
    ("description", sa.Text()),
    ("reporter_kind", sa.String(length=12)),
    ("reporter_name", sa.String(length=140)),
    ("reporter_email", sa.String(length=256)),
    ("owner", sa.String(length=100)),
    ("severity", sa.String(length=16)),
    ("severity_reason", sa.String(length=500)),
    ("paused_since", hub.db.UTCDateTime()),
    ("closed_at", hub.db.UTCDateTime()),
)


def upgrade() -> None:
    with op.batch_alter_table("sla_ticket") as batch:
        for name, type_ in _TICKET_COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))
        batch.add_column(
            sa.Column("state", sa.String(length=20), nullable=False, server_default="opened")
        )
        batch.add_column(
            sa.Column("paused_seconds", sa.Float(), nullable=False, server_default="0")
        )
    # tickets of before: resolved ones are resolved, answered ones taken over
    op.execute(
        "UPDATE sla_ticket SET state = CASE WHEN resolved_at IS NOT NULL THEN 'resolved' "
        "WHEN responded_at IS NOT NULL THEN 'taken_over' ELSE 'opened' END"
    )
    op.create_table(
        "sla_maintenance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("starts_at", hub.db.UTCDateTime(), nullable=False),
        sa.Column("ends_at", hub.db.UTCDateTime(), nullable=False),
        sa.Column("affects", sa.String(length=500), nullable=False),
        sa.Column("ente_codes", hub.db.JSONType, nullable=False),
        sa.Column("created_at", hub.db.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("cancelled_at", hub.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_maintenance")),
    )
    op.create_index(op.f("ix_sla_maintenance_starts_at"), "sla_maintenance", ["starts_at"])
    op.create_table(
        "sla_mail",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=24), nullable=False),
        sa.Column("maintenance_id", sa.Integer(), nullable=True),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("ente_code", sa.String(length=35), nullable=True),
        sa.Column("recipient", sa.String(length=256), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", hub.db.UTCDateTime(), nullable=False),
        sa.Column("sent_at", hub.db.UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["maintenance_id"],
            ["sla_maintenance.id"],
            name=op.f("fk_sla_mail_maintenance_id_sla_maintenance"),
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["sla_ticket.id"], name=op.f("fk_sla_mail_ticket_id_sla_ticket")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_mail")),
    )
    op.create_index(op.f("ix_sla_mail_maintenance_id"), "sla_mail", ["maintenance_id"])
    op.create_index(op.f("ix_sla_mail_ticket_id"), "sla_mail", ["ticket_id"])
    op.create_table(
        "sla_ticket_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("at", hub.db.UTCDateTime(), nullable=False),
        sa.Column("event", sa.String(length=24), nullable=False),
        sa.Column("from_state", sa.String(length=20), nullable=True),
        sa.Column("to_state", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["sla_ticket.id"],
            name=op.f("fk_sla_ticket_event_ticket_id_sla_ticket"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_ticket_event")),
    )
    op.create_index(op.f("ix_sla_ticket_event_ticket_id"), "sla_ticket_event", ["ticket_id"])
    op.create_table(
        "sla_alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.Column("opened_at", hub.db.UTCDateTime(), nullable=False),
        sa.Column("closed_at", hub.db.UTCDateTime(), nullable=True),
        sa.Column("webhook_status", sa.String(length=80), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_alert")),
    )
    op.create_index(op.f("ix_sla_alert_key"), "sla_alert", ["key"])


def downgrade() -> None:
    op.drop_index(op.f("ix_sla_alert_key"), table_name="sla_alert")
    op.drop_table("sla_alert")
    op.drop_index(op.f("ix_sla_ticket_event_ticket_id"), table_name="sla_ticket_event")
    op.drop_table("sla_ticket_event")
    op.drop_index(op.f("ix_sla_mail_ticket_id"), table_name="sla_mail")
    op.drop_index(op.f("ix_sla_mail_maintenance_id"), table_name="sla_mail")
    op.drop_table("sla_mail")
    op.drop_index(op.f("ix_sla_maintenance_starts_at"), table_name="sla_maintenance")
    op.drop_table("sla_maintenance")
    with op.batch_alter_table("sla_ticket") as batch:
        for name in ("paused_seconds", "state", *(n for n, _ in reversed(_TICKET_COLUMNS))):
            batch.drop_column(name)
