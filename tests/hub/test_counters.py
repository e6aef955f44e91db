"""The dashboard's counters (state_count, kept by the trigger of migration 0024): exact for
every path that writes history, per Italian day, per service, folded by ``compact``; and the
dashboard's queries use indexes on a large table (EXPLAIN)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.scale_data import fill
from hub import clock, counters, dashboard
from hub.models import DebtPosition, PaymentService, ServiceKind, StateCount, StateTransition
from hub.payments.lifecycle import record_transitions
from tests.factories import make_ente, make_position, paid_option

pytestmark = pytest.mark.pg


def _scan(db, ente_id: int, since: dt.date | dt.datetime) -> dict[str, tuple[int, int]]:
    """What the counters stand for, computed the slow way: a scan of the history."""
    if isinstance(since, dt.datetime):
        since = since.astimezone(dashboard.ROME).date()
    rows = db.execute(
        sa.text(
            "SELECT t.to_state, count(*), sum(o.amount_cents) FROM state_transition t "
            "JOIN payment_option o ON o.id = t.option_id WHERE o.ente_id = :e "
            "AND (t.created_at AT TIME ZONE 'UTC' AT TIME ZONE 'Europe/Rome')::date >= :d "
            "GROUP BY 1"
        ),
        {"e": ente_id, "d": since},
    ).all()
    found = {state: (n, int(cents)) for state, n, cents in rows}
    return {state: found.get(state, (0, 0)) for state in dashboard.STATES}


def test_a_transition_counts_on_its_italian_day(db):
    ente = make_ente(db)
    option = make_position(db, ente, publish=False).options[0]
    # 23:30 UTC on 6 December is 00:30 on 7 December in Rome (winter: UTC+1)
    late = dt.datetime(2026, 12, 6, 23, 30, tzinfo=dt.UTC)
    record_transitions(db, [(option.id, "draft", "payable")], "publish", cause="t", now=late)
    db.flush()
    days = db.scalars(
        sa.select(StateCount.day).where(
            StateCount.ente_id == ente.id, StateCount.state == "payable"
        )
    ).all()
    assert days == [dt.date(2026, 12, 7)]
    assert dashboard.counts_by_state(db, ente.id, dt.date(2026, 12, 7))["payable"] == (1, 3000)
    assert dashboard.counts_by_state(db, ente.id, dt.date(2026, 12, 8))["payable"] == (0, 0)


def test_a_bulk_copy_of_history_is_counted_in_one_row_per_key(db):
    ente = make_ente(db)
    options = [make_position(db, ente, publish=False).options[0] for _ in range(5)]
    before = db.scalar(sa.select(sa.func.count()).select_from(StateCount))
    now = dt.datetime.now(dt.UTC)
    record_transitions(  # more than one change on PostgreSQL: one COPY
        db, [(o.id, "draft", "payable") for o in options], "publish", cause="t", now=now
    )
    db.flush()
    assert db.scalar(sa.select(sa.func.count()).select_from(StateCount)) == before + 1
    assert dashboard.counts_by_state(db, ente.id, now)["payable"] == (5, 15000)


def test_counts_are_kept_per_service(db):
    ente = make_ente(db)
    service = PaymentService(
        ente_id=ente.id,
        code="MENSA",
        label="Mensa",
        taxonomy="9/0101108TS/",
        kind=ServiceKind.SPONTANEOUS,
    )
    db.add(service)
    db.flush()
    position = make_position(db, ente, publish=False)
    db.execute(
        sa.update(DebtPosition).where(DebtPosition.id == position.id).values(service_id=service.id)
    )
    make_position(db, ente, amount="5.00")  # no service
    now = dt.datetime.now(dt.UTC)
    record_transitions(
        db, [(position.options[0].id, "draft", "payable")], "publish", cause="t", now=now
    )
    db.flush()
    assert dashboard.counts_by_state(db, ente.id, now)["payable"] == (2, 3500)
    by_service = dashboard.counts_by_state(db, ente.id, now, service_id=service.id)
    assert by_service["payable"] == (1, 3000)


def test_compact_folds_each_key_into_one_row_and_keeps_the_sums(db):
    ente = make_ente(db)
    for _ in range(3):
        paid_option(db, ente)
    today = dt.datetime.now(dt.UTC)
    counts = dashboard.counts_by_state(db, ente.id, today)
    rows = sa.select(sa.func.count()).where(StateCount.ente_id == ente.id)
    assert db.scalar(rows) == 6  # 3 publish + 3 receipts, one statement each
    assert counters.compact(db) >= 2
    assert db.scalar(rows) == 2
    assert dashboard.counts_by_state(db, ente.id, today) == counts == _scan(db, ente.id, today)
    assert counters.compact(db) == 0 or db.scalar(rows) == 2


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    plan=st.lists(
        st.tuples(st.integers(1, 3), st.integers(-3, 3), st.sampled_from(["one", "bulk"])),
        min_size=1,
        max_size=6,
    )
)
def test_the_counters_equal_a_scan_of_the_history_on_random_data(db, plan):
    ente = make_ente(db)
    base = dt.datetime(2026, 3, 29, 0, 30, tzinfo=dt.UTC)  # the night summer time begins
    for size, hours, how in plan:
        options = [make_position(db, ente, publish=False).options[0] for _ in range(size)]
        now = base + dt.timedelta(hours=hours * 7)
        changes = [(o.id, "draft", "payable") for o in options]
        if how == "one":
            for change in changes:
                record_transitions(db, [change], "publish", cause="t", now=now)
        else:
            record_transitions(db, changes, "publish", cause="t", now=now)
        db.flush()
    for day in (dt.date(2026, 3, 28), dt.date(2026, 3, 29), dt.date(2026, 3, 30)):
        assert dashboard.counts_by_state(db, ente.id, day) == _scan(db, ente.id, day)
    counters.compact(db, since=dt.date.min)
    assert dashboard.counts_by_state(db, ente.id, base) == _scan(db, ente.id, base.date())


def test_the_sqlite_trigger_counts_too(sqlite_engine):
    from sqlalchemy.orm import Session

    with Session(sqlite_engine) as session:
        ente = make_ente(session)
        paid_option(session, ente)
        session.flush()
        today = dt.datetime.now(dt.UTC)
        counts = dashboard.counts_by_state(session, ente.id, today)
        assert counts["payable"] == (1, 3000) and counts["paid"] == (1, 3000)
        counters.compact(session, since=dt.date.min)
        assert dashboard.counts_by_state(session, ente.id, today) == counts


def _seq_scans(db, query) -> set[str]:
    """The tables the plan of ``query`` reads whole."""
    dialect = db.get_bind().dialect
    compiled = query.compile(dialect=dialect)
    params = {}  # bound as the application binds them (UTCDateTime: naive UTC)
    for key, value in compiled.params.items():
        process = compiled.binds[key].type.bind_processor(dialect)
        params[key] = process(value) if process else value
    plan = db.connection().exec_driver_sql(f"EXPLAIN (FORMAT JSON) {compiled}", params).scalar()
    plan = plan if isinstance(plan, list) else json.loads(plan)
    found: set[str] = set()

    def walk(node: dict) -> None:
        if node["Node Type"] == "Seq Scan":
            found.add(node["Relation Name"])
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return found


def _rows_read(db, query) -> int:
    """Rows the plan of ``query`` read, from EXPLAIN ANALYZE: rows returned by each scan plus the
    rows its filter removed."""
    dialect = db.get_bind().dialect
    compiled = query.compile(dialect=dialect)
    plan = (
        db.connection()
        .exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {compiled}", dict(compiled.params))
        .scalar()
    )
    plan = plan if isinstance(plan, list) else json.loads(plan)

    def walk(node: dict) -> int:
        own = node.get("Rows Removed by Filter", 0)
        if "Scan" in node["Node Type"]:
            own += node["Actual Rows"] * node.get("Actual Loops", 1)
        return own + sum(walk(child) for child in node.get("Plans", []))

    return walk(plan[0]["Plan"])


def test_the_dashboard_queries_use_indexes_on_a_large_table(db):
    big, small = make_ente(db), make_ente(db)
    now = clock.now()
    fill(db, big.id, 60_000, tag="BIG", segregation=big.segregation_code, days=400, now=now)
    fill(db, small.id, 2_000, tag="SMALL", segregation=small.segregation_code, days=400, now=now)
    for table in ("debt_position", "payment_option", "state_transition", "state_count"):
        db.execute(sa.text(f"ANALYZE {table}"))
    today, month = dashboard.period_starts()
    week = dashboard.Filters(
        state="paid", date_from=today.date() - dt.timedelta(days=7), date_to=today.date()
    )
    queries = {
        "overview": dashboard.counts_by_state_query(big.id, month.date()),
        "latest": dashboard.latest_transitions_query(big.id),
        "latest of a small Ente": dashboard.latest_transitions_query(small.id),
        "by fiscal code": dashboard.search_query(
            big.id, dashboard.Filters(debtor_fiscal_code="SCLDBT0000001234")
        ).limit(201),
        "by state and week": dashboard.search_query(big.id, week).limit(201),
        "by state": dashboard.search_query(big.id, dashboard.Filters(state="paid")).limit(201),
        "history of the last hour": sa.select(StateTransition.id).where(
            StateTransition.created_at >= now - dt.timedelta(hours=1)
        ),
    }
    # an Ente's pages in id order: the small Ente's first page does not walk the large one's rows
    for name, query in {
        "REST list of a small Ente": sa.select(DebtPosition)
        .where(DebtPosition.ente_id == small.id)
        .order_by(DebtPosition.id)
        .limit(51),
        "unfiltered search of a small Ente": dashboard.search_query(
            small.id, dashboard.Filters()
        ).limit(201),
    }.items():
        assert _rows_read(db, query) < 1_000, name
    large = {"debt_position", "payment_option", "state_transition", "transfer"}
    for name, query in queries.items():
        assert not _seq_scans(db, query) & large, name
    # the counters are a few rows per day and state, however many options: 62,000 options
    # over 400 days, three states, make at most 2 x 400 x 3 rows
    assert db.scalar(sa.select(sa.func.count()).select_from(StateCount)) <= 2 * 400 * 3


def test_the_scheduler_folds_the_counters_every_ten_minutes(committed_factory):
    from apscheduler.schedulers.background import BackgroundScheduler

    from actors.scheduler import add_jobs

    with committed_factory.begin() as session:
        ente = make_ente(session)
        for _ in range(3):
            paid_option(session, ente)
    jobs = {
        j.id: j for j in add_jobs(BackgroundScheduler(), None, committed_factory, {}).get_jobs()
    }
    job = jobs["counters_compact"]
    assert job.trigger.interval.total_seconds() == 600
    rows = sa.select(sa.func.count()).where(StateCount.ente_id == ente.id)
    with committed_factory() as session:
        assert session.scalar(rows) == 6
    job.func()
    with committed_factory() as session:
        assert session.scalar(rows) == 2
        assert dashboard.counts_by_state(session, ente.id, clock.today())["paid"] == (3, 9000)
