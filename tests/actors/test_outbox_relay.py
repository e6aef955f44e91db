"""The relay loop (issue 21): messages a session leaves unsent (``hub.outbox.defer``, the
station's receipts with ``payhub.soap_defer_messages``) are sent by the scheduler in batches,
one round trip to Redis each, marked sent in the transaction that holds their rows; nothing is
lost when Redis is away, nothing is sent twice by two relays."""

from __future__ import annotations

import threading
import time
from collections import Counter

import dramatiq
import pytest
import redis
import sqlalchemy as sa

from actors import broker as broker_mod
from actors import outbox as relay
from actors.middleware import current_session
from actors.scheduler import start_relay
from hub import outbox
from hub.models import OutboxMessage

effects: Counter[str] = Counter()


def _declare_probe(broker: dramatiq.Broker) -> None:
    """``probe``, an actor whose effect is counted (through the unit of work)."""
    if "relay_probe" in broker.actors:
        return

    @dramatiq.actor(actor_name="relay_probe", broker=broker, max_retries=0)
    def probe(key: str) -> None:
        current_session().execute(sa.text("SELECT 1"))
        effects[key] += 1


def _work(broker: dramatiq.Broker) -> None:
    """Run a worker until the default queue is empty."""
    worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=2)
    worker.start()
    try:
        broker.join("default", timeout=10_000)
        worker.join()
    finally:
        worker.stop()


pytestmark = pytest.mark.pg


def _defer(factory, *keys: str, actor: str = "relay_probe") -> None:
    with factory.begin() as session:
        outbox.defer(session)
        for key in keys:
            outbox.enqueue(session, actor, key=key)


def _rows(factory) -> list[OutboxMessage]:
    with factory() as session:
        return list(session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)))


def _queued(broker) -> list[dramatiq.Message]:
    return [dramatiq.Message.decode(m) for m in broker.queues["default"].queue]


def test_a_deferring_session_writes_its_messages_unsent_and_sends_nothing(
    stub_broker, committed_factory
):
    _declare_probe(stub_broker)
    _defer(committed_factory, "a", "b")
    with committed_factory.begin() as session:  # written by a statement of the caller's
        outbox.defer(session)
        values = outbox.written_values(session, "relay_probe", now=outbox.utcnow(), key="c")
        row_id = session.execute(outbox._OUTBOX_INSERT, values).scalar_one()
        outbox.adopt_written(session, row_id, values)
    assert _queued(stub_broker) == []
    rows = _rows(committed_factory)
    assert [r.args["key"] for r in rows] == ["a", "b", "c"]
    assert {(r.sent_at, r.lease_until, r.attempts) for r in rows} == {(None, None, 0)}


def test_the_relay_sends_what_is_unsent_oldest_first_and_marks_it_leased(
    stub_broker, committed_factory
):
    _declare_probe(stub_broker)
    _defer(committed_factory, *(f"k{i}" for i in range(7)))
    with committed_factory.begin() as session:  # sent after its commit: not the relay's
        outbox.enqueue(session, "relay_probe", key="inline")
    stub_broker.flush_all()
    assert relay.relay_unsent(stub_broker, committed_factory, batch=5) == 5
    assert [m.kwargs["key"] for m in _queued(stub_broker)] == [f"k{i}" for i in range(5)]
    assert relay.relay_unsent(stub_broker, committed_factory, batch=5) == 2
    assert relay.relay_unsent(stub_broker, committed_factory, batch=5) == 0
    rows = _rows(committed_factory)
    assert [m.message_id for m in _queued(stub_broker)] == [r.message_id for r in rows[:7]]
    lease = relay.Policy.of(stub_broker).lease
    assert all(r.attempts == 1 and r.lease_until == r.sent_at + lease for r in rows)


def test_two_relays_at_once_never_send_the_same_rows(stub_broker, committed_factory):
    _declare_probe(stub_broker)
    _defer(committed_factory, "x", "y", "z")
    with committed_factory.begin() as holder:
        held = outbox.unsent(holder, limit=2)  # another relay holds the two oldest
        assert [m["args"]["key"] for m in held] == ["x", "y"]
        started = time.monotonic()
        assert relay.relay_unsent(stub_broker, committed_factory) == 1  # not waiting for them
        assert time.monotonic() - started < 2
        assert [m.kwargs["key"] for m in _queued(stub_broker)] == ["z"]
    # the holder ended without marking them (it died before its commit): sent now, once
    assert relay.relay_unsent(stub_broker, committed_factory) == 2
    assert sorted(m.kwargs["key"] for m in _queued(stub_broker)) == ["x", "y", "z"]


def test_a_message_the_broker_refuses_is_marked_failed_and_left_to_the_sweeper(
    stub_broker, committed_factory
):
    _declare_probe(stub_broker)
    _defer(committed_factory, "good")
    _defer(committed_factory, "bad", actor="no_such_actor")
    assert relay.relay_unsent(stub_broker, committed_factory) == 1
    good, bad = _rows(committed_factory)
    assert good.attempts == 1 and bad.attempts == 0 and bad.lease_until is None
    assert "no_such_actor" in bad.last_error
    assert relay.relay_unsent(stub_broker, committed_factory) == 0  # not tried again at once
    with committed_factory() as session:
        due = outbox.due(session, older_than=relay.dt.timedelta(0))
    assert [m["id"] for m in due] == [bad.id]  # the sweeper's, at its pace


def test_the_relay_loop_sends_within_its_interval_and_stops_when_told(
    stub_broker, committed_factory
):
    _declare_probe(stub_broker)
    stop = start_relay(stub_broker, committed_factory, {"payhub.outbox_relay_seconds": "0.05"})
    assert stop is not None
    (loop,) = [t for t in threading.enumerate() if t.name == "outbox-relay"]
    try:
        _defer(committed_factory, "soon")
        deadline = time.monotonic() + 5
        while not _queued(stub_broker) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [m.kwargs["key"] for m in _queued(stub_broker)] == ["soon"]
    finally:
        stop.set()
    loop.join(2)
    assert not loop.is_alive()
    assert start_relay(stub_broker, committed_factory, {"payhub.outbox_relay_seconds": "0"}) is None


@pytest.mark.redis
def test_on_redis_a_batch_is_one_round_trip_and_every_message_is_acted_on_once(
    committed_factory, redis_url, monkeypatch
):
    broker = broker_mod.setup(
        {"payhub.broker": "redis", "payhub.redis_url": redis_url, "payhub.embedded_worker": "0"},
        committed_factory,
    )
    relay.install_relay(committed_factory)
    _declare_probe(broker)
    effects.clear()
    one_by_one: list[object] = []
    monkeypatch.setattr(broker, "enqueue", lambda *a, **k: one_by_one.append(a))
    round_trips: list[int] = []
    pipeline = broker.client.pipeline

    def counted(*args, **kwargs):
        pipe = pipeline(*args, **kwargs)
        execute = pipe.execute
        pipe.execute = lambda *a, **k: (round_trips.append(len(pipe.command_stack)), execute())[1]
        return pipe

    monkeypatch.setattr(broker.client, "pipeline", counted)
    keys = [f"r{i}" for i in range(40)]
    _defer(committed_factory, *keys)
    try:
        assert relay.relay_unsent(broker, committed_factory) == 40
        assert round_trips == [40] and one_by_one == []
        monkeypatch.undo()
        _work(broker)
        assert effects == dict.fromkeys(keys, 1)
        rows = _rows(committed_factory)
        assert all(r.processed_at is not None for r in rows)
    finally:
        broker.close()


@pytest.mark.redis
def test_with_redis_unreachable_nothing_is_marked_and_the_loop_tries_again(
    committed_factory, monkeypatch
):
    broker = broker_mod.setup(
        {
            "payhub.broker": "redis",
            "payhub.redis_url": "redis://127.0.0.1:1/0",  # nothing listens there
            "payhub.embedded_worker": "0",
        },
        committed_factory,
    )
    _declare_probe(broker)
    _defer(committed_factory, "later")
    try:
        with pytest.raises(redis.exceptions.ConnectionError):
            relay.relay_unsent(broker, committed_factory)
        (row,) = _rows(committed_factory)
        assert (row.sent_at, row.attempts, row.last_error) == (None, 0, None)  # still unsent
        stop = threading.Event()
        failures: list[dict] = []
        monkeypatch.setattr(
            relay.log, "warning", lambda event, **kw: failures.append({"event": event, **kw})
        )
        loop = threading.Thread(
            target=relay.run_relay,
            args=(broker, committed_factory),
            kwargs={"every": 0.01, "stop": stop},
        )
        loop.start()
        deadline = time.monotonic() + 5
        while not failures and time.monotonic() < deadline:
            time.sleep(0.01)
        stop.set()
        loop.join(5)
        assert not loop.is_alive()
        assert failures and failures[0]["event"] == "outbox.relay_failed"
        assert failures[0]["retry_in"] == 1.0  # then 2, 4 ... up to 30 s
    finally:
        broker.close()


def test_the_relays_query_reads_the_index_of_unsent_rows(committed_factory):
    with committed_factory.begin() as session:
        session.execute(
            sa.text(
                "INSERT INTO outbox_message (message_id, queue_name, actor_name, args, "
                "created_at, sent_at, lease_until, attempts) SELECT 'sent-' || g, 'default', "
                "'probe', '{}', now(), now(), now() + interval '1 hour', 1 "
                "FROM generate_series(1, 20000) g"
            )
        )
        outbox.defer(session)
        outbox.enqueue(session, "relay_probe", key="the one")
    engine = committed_factory.kw["bind"]
    with engine.connect() as conn:
        conn.execute(sa.text("ANALYZE outbox_message"))
        conn.commit()
    seen: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, *args) -> None:
        seen.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        with committed_factory.begin() as session:
            assert [m["args"] for m in outbox.unsent(session)] == [{"key": "the one"}]
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    ((statement, parameters),) = [s for s in seen if "outbox_message" in s[0]]
    with engine.connect() as conn:
        plan = "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {statement}", parameters))
    assert "ix_outbox_message_unsent" in plan, plan


@pytest.mark.parametrize("relay_runs", [True, False], ids=["beside-the-relay", "alone"])
def test_the_sweeper_leaves_unsent_messages_to_the_relay_loop_when_it_runs(
    stub_broker, committed_factory, relay_runs
):
    from apscheduler.schedulers.background import BackgroundScheduler

    from actors.scheduler import add_jobs

    _declare_probe(stub_broker)
    _defer(committed_factory, "unsent")
    with committed_factory.begin() as session:  # a send the broker refused, released
        outbox.enqueue(session, "relay_probe", key="refused")
        session.flush()
    with committed_factory.begin() as session:
        session.execute(  # both past the sweeper's grace
            sa.text("UPDATE outbox_message SET created_at = created_at - interval '1 minute'")
        )
        session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.args["key"].as_string() == "refused")
            .values(sent_at=None, lease_until=None, attempts=0, last_error="ConnectionError")
        )
    stub_broker.flush_all()
    jobs = {
        job.id: job
        for job in add_jobs(
            BackgroundScheduler(), stub_broker, committed_factory, {}, relay=relay_runs
        ).get_jobs()
    }
    jobs["outbox_sweep"].func()
    swept = sorted(m.kwargs["key"] for m in _queued(stub_broker))
    assert swept == (["refused"] if relay_runs else ["refused", "unsent"])
