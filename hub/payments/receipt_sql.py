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

import datetime as dt
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert as pg_insert

from hub import actor_names
from hub.db import WRITES
from hub.models import Ente, OutboxMessage, PaymentOption, Receipt, StateTransition
from hub.onboarding import environments
from hub.payments import plans
from workflows.payment import anomaly_for_receipt, next_state, sources

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
_MOMENT = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
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
    history, message = _follow_ups(
        moved,
        from_state=_bind("h_from_state", HISTORY_TABLE.c.from_state),
        to_state=_bind("o_status", HISTORY_TABLE.c.to_state),
        args=_bind("m_args", OUTBOX_TABLE.c.args),
        now=_bind("now", HISTORY_TABLE.c.created_at),
    )
    return (
        sa.select(
            sa.select(receipt.c.id).scalar_subquery().label("receipt_pk"),
            sa.select(message.c.id).scalar_subquery().label("message_pk"),
        )
        .add_cte(history)
        .execution_options(**{WRITES: True})
    )


def _follow_ups(
    moved: sa.CTE,
    *,
    from_state: sa.ColumnElement[Any],
    to_state: sa.ColumnElement[Any],
    args: sa.ColumnElement[Any],
    now: sa.ColumnElement[Any],
) -> tuple[sa.CTE, sa.CTE]:
    """The history row and the follow-up outbox row of each option in ``moved`` (a CTE
    answering the moved option's ``id``), as CTEs: the message's answers its row's ``id``."""
    history = sa.insert(HISTORY_TABLE).from_select(
        ["option_id", "event", "from_state", "to_state", "cause", "created_at"],
        sa.select(
            moved.c.id,
            _word(EVENT),
            from_state,
            to_state,
            _bind("h_cause", HISTORY_TABLE.c.cause),
            now,
        ),
    )
    m = OUTBOX_TABLE.c
    bound = ("message_id", "sent_at", "attempts", "lease_until")
    message = (
        sa.insert(OUTBOX_TABLE)
        .from_select(
            [*MESSAGE_LITERALS, *bound, "args", "created_at"],
            sa.select(
                *(_word(v) for v in MESSAGE_LITERALS.values()),
                *(_bind(f"m_{c}", m[c]) for c in bound),
                args,
                now,
            ).select_from(moved),
        )
        .returning(m.id)
        .cte("written_message")
    )
    return history.cte("written_history"), message


PAID_AT_ONCE = _paid_at_once()


# ``RECEIPT_AT_ONCE``: an ordinary receipt whole in one statement, lock included, sent on a
# connection in autocommit (the statement is its own transaction: one round trip, no BEGIN or
# COMMIT). The option is locked only if the receipt is ordinary for it (what
# ``lifecycle._ordinary`` and ``store_receipt`` ask, as conditions: an Ente the station serves,
# in production, an option in a state the machine moves to paid without anomaly, the amount
# expected, no other plan paid, its service not in test); then the receipt is inserted (a twin
# already stored writes nothing), and only if it was, the option moved (from the locked row:
# the lock makes the move certain), its history row and its outbox row written. No row: not
# ordinary (or no such option), nothing written, the general path decides. A row without a
# receipt id: a duplicate, nothing written.
ORDINARY_MOVES: dict[str, str] = {
    str(state): str(
        next_state(state, EVENT, now=_MOMENT, today=_MOMENT.date())  # unguarded: no time read
    )
    for state in sorted(sources(EVENT))
    if anomaly_for_receipt(state) is None
}
# what the lock reads, and the moved row answers
AT_ONCE_COLUMNS = ("id", "ente_id", "status", "version", "paid_cents", "paid_at")
# the receipt's columns the statement fills from the lock (not from parameters)
FROM_LOCK = {"option_id": "id", "ente_id": "ente_id"}


def _receipt_at_once() -> sa.Select:
    o = OPTION_TABLE.c
    locked = (
        sa.select(*(o[name] for name in AT_ONCE_COLUMNS))
        .join(Ente, Ente.id == o.ente_id)
        .where(
            Ente.fiscal_code == sa.bindparam("r_ec_fiscal_code"),
            o.notice_number == sa.bindparam("r_notice_number"),
            Ente.id == sa.any_(sa.bindparam("served", type_=postgresql.ARRAY(sa.Integer()))),
            Ente.production.is_(True),
            o.status.in_([_word(state) for state in ORDINARY_MOVES]),
            o.amount_cents == sa.bindparam("r_payment_amount_cents"),
            sa.func.coalesce(
                plans.blocking_rank_query(sa.bindparam("plan_now", type_=sa.DateTime())),
                sa.literal_column("0"),
            )
            != sa.literal_column("2"),  # no other plan of the debt paid
            environments.service_production_query().is_distinct_from(sa.false()),
        )
        .with_for_update(of=OPTION_TABLE)
        .cte("locked_option")
    )
    columns = [p.columns[0] for p in RECEIPT_COLUMNS]
    receipt = (
        pg_insert(RECEIPT_TABLE)
        .from_select(
            [c.key for c in columns],
            sa.select(
                *(
                    locked.c[FROM_LOCK[c.key]]
                    if c.key in FROM_LOCK
                    else sa.false()
                    if c.key == "test"  # the conditions above: not a test payment
                    else _bind(receipt_bind(p.key), c)
                    for p, c in zip(RECEIPT_COLUMNS, columns, strict=True)
                )
            ),
        )
        .on_conflict_do_nothing(
            index_elements=[RECEIPT_TABLE.c.ec_fiscal_code, RECEIPT_TABLE.c.receipt_id]
        )
        .returning(RECEIPT_TABLE.c.id)
        .cte("written_receipt")
    )
    target = sa.case(
        {_word(before): _word(after) for before, after in ORDINARY_MOVES.items()},
        value=locked.c.status,
    )
    now = _bind("now", o.paid_at)
    moved = (
        sa.update(OPTION_TABLE)
        .where(o.id == locked.c.id, sa.exists(sa.select(receipt.c.id)))
        .values(
            status=target,
            paid_cents=locked.c.paid_cents + sa.bindparam("r_payment_amount_cents"),
            paid_at=sa.func.coalesce(locked.c.paid_at, now),
            activation_expires_at=sa.null(),
            version=locked.c.version + sa.literal_column("1"),
        )
        .returning(o.id, locked.c.status.label("from_state"), o.status.label("to_state"))
        .cte("moved_option")
    )
    change = {  # the message's arguments, as ``lifecycle._change`` names them
        "option_id": moved.c.id,
        "event": _word(EVENT),
        "from_state": moved.c.from_state,
        "to_state": moved.c.to_state,
    }
    args = sa.func.jsonb_build_object(*(x for k, v in change.items() for x in (_word(k), v)))
    history, message = _follow_ups(
        moved, from_state=moved.c.from_state, to_state=moved.c.to_state, args=args, now=now
    )
    return (
        sa.select(
            *(locked.c[name] for name in AT_ONCE_COLUMNS),
            sa.select(receipt.c.id).scalar_subquery().label("receipt_pk"),
            sa.select(message.c.id).scalar_subquery().label("message_pk"),
        )
        .add_cte(history)
        .execution_options(**{WRITES: True})
    )


RECEIPT_AT_ONCE = _receipt_at_once()
