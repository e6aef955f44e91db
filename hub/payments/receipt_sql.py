"""The receipt's prebuilt statements (paSendRT, the station's hottest write).

Built once at import: building a statement costs more than running it. ``LOCK_WITH_ENTE``
reads and locks the option a receipt pays together with its Ente (by the receipt's EC fiscal
code) and what every receipt asks besides (another plan paid, the service in production), in
one round trip. ``ENTE_REF`` is the Ente alone, for a receipt whose notice is unknown.

``PAID_AT_ONCE`` is the whole write of an ordinary receipt (OK, for a payable option of a
served Ente, the amount expected, no anomaly) in one statement of data-modifying CTEs: the
receipt row (``ON CONFLICT DO NOTHING``: a twin already stored writes nothing), and only if it
was written the option's paid state (its version checked and bumped), its history row and
its follow-up outbox row. It answers the receipt's id (NULL: a duplicate) and the outbox row's
id (NULL with a receipt id: the option changed under its lock). Every other receipt takes the
general path (``lifecycle.store_receipt``), one statement per row. The parameters are prefixed
(``r_``, ``o_``, ``h_``, ``m_``): a parameter named as a column of the option would be taken
for one more column to update. They are at most 50 (values shared by several columns are given
once, our own constants written into the SQL): psycopg converts and prepares a statement once
only up to that many, and would otherwise parse it again on every receipt (and PostgreSQL plan
it again).
"""

from __future__ import annotations

from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from hub import actor_names
from hub.db import WRITES
from hub.models import Ente, OutboxMessage, PaymentOption, Receipt, StateTransition
from hub.onboarding import environments
from hub.payments import plans

RECEIPT_TABLE = cast(sa.Table, Receipt.__table__)
OPTION_TABLE = cast(sa.Table, PaymentOption.__table__)
HISTORY_TABLE = cast(sa.Table, StateTransition.__table__)
OUTBOX_TABLE = cast(sa.Table, OutboxMessage.__table__)

# the receipt's columns, as the ORM's attributes name them (``metadata_entries`` -> "metadata")
RECEIPT_COLUMNS = [p for p in sa.inspect(Receipt).column_attrs if p.key != "id"]

ENTE_REF = sa.select(Ente.id, Ente.production).where(
    Ente.fiscal_code == sa.bindparam("fiscal_code")
)

# what a receipt reads of its option: as Core columns, not the ORM entity (loading one costs
# more CPU than the statement); an ordinary receipt needs no object, the general path loads it
# after the lock
LOCKED_COLUMNS = ("id", "ente_id", "status", "version", "amount_cents", "paid_cents", "paid_at")

LOCK_WITH_ENTE = (
    sa.select(
        *(OPTION_TABLE.c[name] for name in LOCKED_COLUMNS),
        plans.blocking_rank_query(sa.bindparam("now", type_=sa.DateTime())).label("plan_rank"),
        environments.service_production_query().label("service_production"),
        Ente.production.label("ente_production"),
    )
    .join(Ente, Ente.id == OPTION_TABLE.c.ente_id)
    .where(
        Ente.fiscal_code == sa.bindparam("fiscal_code"),
        OPTION_TABLE.c.notice_number == sa.bindparam("notice_number"),
    )
    .with_for_update(of=OPTION_TABLE)
)


# a bind shared by several columns (each value given once): the receipt's option is the one
# moved, and one moment stamps the receipt, its history row and its message
SHARED = {"option_id": "o_id", "received_at": "now"}
EVENT = "receive_receipt"
MESSAGE_LITERALS = {"queue_name": "default", "actor_name": actor_names.PAYMENT_STATUS_CHANGED}


def receipt_bind(key: str) -> str:
    """The parameter carrying the receipt's attribute ``key``."""
    return SHARED.get(key, f"r_{key}")


# (attribute, parameter) of each receipt column, worked out once
RECEIPT_BINDS = [(p.key, receipt_bind(p.key)) for p in RECEIPT_COLUMNS]


def _bind(name: str, column: sa.ColumnElement[Any]) -> sa.BindParameter[Any]:
    return sa.bindparam(name, type_=column.type)


def _word(value: str) -> sa.ColumnElement[Any]:
    """One of our own constants written into the SQL (fewer parameters: psycopg prepares and
    caches a statement of at most 50)."""
    assert "'" not in value
    return sa.literal_column(f"'{value}'", sa.String())


def _paid_at_once() -> sa.Select:
    receipt = (
        pg_insert(RECEIPT_TABLE)
        .values(
            {p.columns[0].key: _bind(receipt_bind(p.key), p.columns[0]) for p in RECEIPT_COLUMNS}
        )
        .on_conflict_do_nothing(
            index_elements=[RECEIPT_TABLE.c.ec_fiscal_code, RECEIPT_TABLE.c.receipt_id]
        )
        .returning(RECEIPT_TABLE.c.id)
        .cte("written_receipt")
    )
    o = OPTION_TABLE.c
    moved = (
        sa.update(OPTION_TABLE)
        .where(
            o.id == sa.bindparam("o_id"),
            o.version == sa.bindparam("o_old_version"),
            sa.exists(sa.select(receipt.c.id)),
        )
        .values(
            status=_bind("o_status", o.status),
            paid_cents=_bind("o_paid_cents", o.paid_cents),
            paid_at=_bind("o_paid_at", o.paid_at),
            activation_expires_at=sa.null(),
            version=_bind("o_version", o.version),
        )
        .returning(o.id)
        .cte("moved_option")
    )
    h = HISTORY_TABLE.c
    history = sa.insert(HISTORY_TABLE).from_select(
        ["option_id", "event", "from_state", "to_state", "cause", "created_at"],
        sa.select(
            moved.c.id,
            _word(EVENT),
            _bind("h_from_state", h.from_state),
            _bind("o_status", h.to_state),
            _bind("h_cause", h.cause),
            _bind("now", h.created_at),
        ),
    )
    m = OUTBOX_TABLE.c
    bound = ("message_id", "args", "sent_at", "attempts", "lease_until")
    message = (
        sa.insert(OUTBOX_TABLE)
        .from_select(
            [*MESSAGE_LITERALS, *bound, "created_at"],
            sa.select(
                *(_word(v) for v in MESSAGE_LITERALS.values()),
                *(_bind(f"m_{c}", m[c]) for c in bound),
                _bind("now", m.created_at),
            ).select_from(moved),
        )
        .returning(m.id)
        .cte("written_message")
    )
    return (
        sa.select(
            sa.select(receipt.c.id).scalar_subquery().label("receipt_pk"),
            sa.select(message.c.id).scalar_subquery().label("message_pk"),
        )
        .add_cte(history.cte("written_history"))
        .execution_options(**{WRITES: True})
    )


PAID_AT_ONCE = _paid_at_once()
