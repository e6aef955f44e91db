"""Dashboard counters and indexes at scale (issue 21)

``state_count``: per (Ente, service, state, Italian day) how many options entered the state
and their amount, as append-only delta rows written by a trigger on ``state_transition`` in
the same transaction as the history row, whoever writes it (one transition, a COPY of
thousands, a set-based INSERT). PostgreSQL: one statement-level trigger with a transition
table (one INSERT ... SELECT ... GROUP BY per statement, however many rows). SQLite: a row
trigger; the Italian day comes from ``rome_day()``, a function hub.db registers on each
connection. Existing history is counted once here. Indexes for an Ente's options and positions in id
order (keyset pages), the searches by state and by creation day, for history by time, and for the dashboard's Stand-In receipts.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

PG_FUNCTION = """
CREATE FUNCTION state_count_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO state_count (ente_id, service_id, state, day, options, amount_cents)
    SELECT o.ente_id, p.service_id, n.to_state,
           (n.created_at AT TIME ZONE 'UTC' AT TIME ZONE 'Europe/Rome')::date,
           count(*), sum(o.amount_cents)
    FROM new_rows n
    JOIN payment_option o ON o.id = n.option_id
    JOIN debt_position p ON p.id = o.position_id
    GROUP BY 1, 2, 3, 4;
    RETURN NULL;
END
$$
"""
PG_TRIGGER = """
CREATE TRIGGER state_count_add AFTER INSERT ON state_transition
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION state_count_add()
"""
SQLITE_TRIGGER = """
CREATE TRIGGER state_count_add AFTER INSERT ON state_transition FOR EACH ROW BEGIN
    INSERT INTO state_count (ente_id, service_id, state, day, options, amount_cents)
    SELECT o.ente_id, p.service_id, NEW.to_state, rome_day(NEW.created_at), 1, o.amount_cents
    FROM payment_option o JOIN debt_position p ON p.id = o.position_id
    WHERE o.id = NEW.option_id;
END
"""
BACKFILL = """
INSERT INTO state_count (ente_id, service_id, state, day, options, amount_cents)
SELECT o.ente_id, p.service_id, t.to_state, {day}, count(*), sum(o.amount_cents)
FROM state_transition t
JOIN payment_option o ON o.id = t.option_id
JOIN debt_position p ON p.id = o.position_id
GROUP BY 1, 2, 3, 4
"""


def upgrade() -> None:
    op.create_table(
        "state_count",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ente_id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("options", sa.BigInteger(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ente_id"], ["ente.id"], name=op.f("fk_state_count_ente_id_ente"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["payment_service.id"],
            name=op.f("fk_state_count_service_id_payment_service"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_state_count")),
    )
    op.create_index("ix_state_count_ente_day", "state_count", ["ente_id", "day"])
    op.create_index(
        "ix_payment_option_ente_status_id", "payment_option", ["ente_id", "status", "id"]
    )
    op.create_index(
        "ix_payment_option_ente_created_at", "payment_option", ["ente_id", "created_at"]
    )
    op.create_index("ix_state_transition_created_at", "state_transition", ["created_at"])
    op.create_index("ix_payment_option_ente_id_id", "payment_option", ["ente_id", "id"])
    op.create_index("ix_debt_position_ente_id_id", "debt_position", ["ente_id", "id"])
    op.create_index(
        "ix_receipt_standin_ente_received_at",
        "receipt",
        ["ente_id", "received_at"],
        postgresql_where=sa.text("standin"),
        sqlite_where=sa.text("standin"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            BACKFILL.format(
                day="(t.created_at AT TIME ZONE 'UTC' AT TIME ZONE 'Europe/Rome')::date"
            )
        )
        op.execute(PG_FUNCTION)
        op.execute(PG_TRIGGER)
    else:
        op.execute(BACKFILL.format(day="rome_day(t.created_at)"))
        op.execute(SQLITE_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER state_count_add ON state_transition")
        op.execute("DROP FUNCTION state_count_add()")
    else:
        op.execute("DROP TRIGGER state_count_add")
    op.drop_index("ix_receipt_standin_ente_received_at", table_name="receipt")
    op.drop_index("ix_debt_position_ente_id_id", table_name="debt_position")
    op.drop_index("ix_payment_option_ente_id_id", table_name="payment_option")
    op.drop_index("ix_state_transition_created_at", table_name="state_transition")
    op.drop_index("ix_payment_option_ente_created_at", table_name="payment_option")
    op.drop_index("ix_payment_option_ente_status_id", table_name="payment_option")
    op.drop_index("ix_state_count_ente_day", table_name="state_count")
    op.drop_table("state_count")
