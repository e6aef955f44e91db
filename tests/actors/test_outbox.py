"""The outbox loses nothing: committed messages arrive (once, to the effect), even when the
broker was down at commit time; rolled-back transactions send nothing."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections import Counter

import dramatiq
import pytest
import sqlalchemy as sa

from actors import broker as broker_mod
from actors import outbox as relay
from actors.middleware import current_session, current_settings, use_settings
from hub import outbox
from hub.models import OutboxMessage, ProcessedMessage

pytestmark = pytest.mark.pg

effects: Counter[str] = Counter()


def _declare_probe(broker: dramatiq.Broker) -> None:
    """A test actor whose effect we can count (and which uses the unit of work)."""
    if "probe" in broker.actors:
        return

    @dramatiq.actor(actor_name="probe", broker=broker, max_retries=0)
    def probe(key: str) -> None:
        current_session().execute(sa.text("SELECT 1"))
        effects[key] += 1


def _write(factory, *keys: str) -> None:
    with factory.begin() as session:
        for key in keys:
            outbox.enqueue(session, "probe", key=key)


def _drain(broker, worker) -> None:
    broker.join("default", timeout=10_000)
    worker.join()


def test_committed_messages_are_delivered_after_commit(stub_broker, stub_worker, committed_factory):
    _declare_probe(stub_broker)
    effects.clear()
    _write(committed_factory, "a", "b")
    _drain(stub_broker, stub_worker)
    assert effects == {"a": 1, "b": 1}
    assert _unfinished(committed_factory, OutboxMessage.processed_at) == 0


def test_a_message_sent_after_commit_was_written_leased_and_needs_no_second_write(
    stub_broker, stub_worker, committed_factory
):
    _declare_probe(stub_broker)
    statements: list[str] = []
    engine = committed_factory.kw["bind"]

    def seen(conn, cursor, statement, *args) -> None:
        statements.append(statement.split()[0].upper())

    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        with committed_factory.begin() as session:
            outbox.enqueue(session, "probe", key="leased")
            session.flush()
            statements.clear()
        assert statements == []  # the commit, then the send to the broker: nothing else
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    assert stub_broker.queues["default"].qsize() == 1
    with committed_factory() as session:
        row = session.scalars(sa.select(OutboxMessage)).one()
    assert row.attempts == 1 and row.sent_at is not None
    assert row.lease_until - row.sent_at == relay.Policy.of(stub_broker).lease


def test_a_rolled_back_transaction_sends_nothing(stub_broker, stub_worker, committed_factory):
    _declare_probe(stub_broker)
    effects.clear()
    with pytest.raises(RuntimeError), committed_factory.begin() as session:
        outbox.enqueue(session, "probe", key="ghost")
        raise RuntimeError("business failure")
    _write(committed_factory, "real")
    _drain(stub_broker, stub_worker)
    assert effects == {"real": 1}


def test_the_same_message_sent_twice_has_its_effect_once(
    stub_broker, stub_worker, committed_factory
):
    _declare_probe(stub_broker)
    effects.clear()
    _write(committed_factory, "once")
    _drain(stub_broker, stub_worker)
    with committed_factory() as session:
        message = outbox.message_dict(session.scalars(sa.select(OutboxMessage)).one())
    relay.send(stub_broker, message)  # e.g. the sweeper after a crash before mark_sent
    _drain(stub_broker, stub_worker)
    assert effects == {"once": 1}
    with committed_factory() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(ProcessedMessage)) == 1


def _work(broker) -> None:
    """Run a worker until the default queue is empty."""
    worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=4)
    worker.start()
    try:
        _drain(broker, worker)
    finally:
        worker.stop()


def _unfinished(factory, column) -> int:
    with factory() as session:
        return session.scalar(
            sa.select(sa.func.count()).select_from(OutboxMessage).where(column.is_(None))
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_redis(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("redis-server did not start")


@pytest.mark.redis
@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")
def test_with_redis_stopped_business_commits_and_messages_arrive_once_it_is_back(committed_factory):
    port = _free_port()
    server = _start_redis(port)
    settings = {
        "payhub.broker": "redis",
        "payhub.redis_url": f"redis://127.0.0.1:{port}/0",
        "payhub.embedded_worker": "false",
    }
    broker = broker_mod.setup(settings, committed_factory)
    relay.install_relay(committed_factory)
    _declare_probe(broker)
    effects.clear()
    server.kill()
    server.wait()
    try:
        keys = [f"k{i}" for i in range(20)]
        for key in keys:  # Redis is down: each commit still succeeds
            _write(committed_factory, key)
        assert _unfinished(committed_factory, OutboxMessage.sent_at) == len(keys)
        server = _start_redis(port)  # Redis is back, with an empty queue
        import datetime as dt

        assert relay.sweep(broker, committed_factory, grace=dt.timedelta(0)) == len(keys)
        assert relay.sweep(broker, committed_factory, grace=dt.timedelta(0)) == 0
        _work(broker)
        assert effects == dict.fromkeys(keys, 1)
    finally:
        server.kill()
        server.wait()
        broker.close()


@pytest.mark.redis
@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")
def test_messages_redis_took_and_then_lost_are_sent_again_from_postgresql(committed_factory):
    port = _free_port()
    server = _start_redis(port)
    settings = {
        "payhub.broker": "redis",
        "payhub.redis_url": f"redis://127.0.0.1:{port}/0",
        "payhub.embedded_worker": "false",
        "payhub.outbox_lease_seconds": "0",
    }
    broker = broker_mod.setup(settings, committed_factory)
    relay.install_relay(committed_factory)
    _declare_probe(broker)
    effects.clear()
    try:
        keys = [f"w{i}" for i in range(20)]
        _write(committed_factory, *keys)  # relayed after commit: Redis took them
        assert _unfinished(committed_factory, OutboxMessage.sent_at) == 0
        broker.client.flushall()  # Redis restarts empty before any worker got them
        assert relay.sweep(broker, committed_factory) == len(keys)  # their lease has ended
        _work(broker)
        assert effects == dict.fromkeys(keys, 1)
        assert _unfinished(committed_factory, OutboxMessage.processed_at) == 0
        assert relay.sweep(broker, committed_factory) == 0  # processed: never sent again
    finally:
        server.kill()
        server.wait()
        broker.close()


def test_a_message_never_processed_is_given_up_after_the_cap_and_can_be_revived(
    stub_broker, committed_factory
):
    use_settings(
        stub_broker, current_settings().replace(outbox_lease_seconds=0, outbox_max_attempts=3)
    )
    _declare_probe(stub_broker)
    effects.clear()
    _write(committed_factory, "lost")  # send 1, after commit
    assert relay.sweep(stub_broker, committed_factory) == 1  # send 2
    assert relay.sweep(stub_broker, committed_factory) == 1  # send 3
    assert relay.sweep(stub_broker, committed_factory) == 0  # the cap: given up
    with committed_factory() as session:
        [row] = outbox.dead(session)
        assert (row.attempts, row.last_error) == (3, "not processed after 3 sends")
    stub_broker.flush_all()
    with committed_factory.begin() as session:
        assert outbox.revive(session, row.id)
    assert relay.sweep(stub_broker, committed_factory) == 1
    _work(stub_broker)
    assert effects == {"lost": 1}
    with committed_factory() as session:
        assert outbox.dead(session) == []
        assert session.get(OutboxMessage, row.id).processed_at is not None


def test_marking_sent_goes_in_bounded_batches_and_the_lease_doubles_per_send(
    committed_factory, monkeypatch
):
    import datetime as dt

    monkeypatch.setattr(outbox, "CHUNK", 7)
    with committed_factory.begin() as session:
        rows = [outbox.enqueue(session, "probe", key=str(i)) for i in range(30)]
        outbox.take_pending(session)
    messages = [outbox.message_dict(r) | {"attempts": 2} for r in rows]
    with committed_factory.begin() as session:
        outbox.mark_sent(session, messages, lease=dt.timedelta(seconds=60))
    with committed_factory() as session:
        sent = session.scalars(sa.select(OutboxMessage)).all()
    assert len(sent) == 30 and all(r.attempts == 1 for r in sent)
    assert {round((r.lease_until - r.sent_at).total_seconds()) for r in sent} == {240}


def test_messages_wait_for_the_outer_commit_and_skip_rolled_back_savepoints(
    stub_broker, stub_worker, committed_factory
):
    _declare_probe(stub_broker)
    effects.clear()
    with committed_factory.begin() as session:
        outbox.enqueue(session, "probe", key="outer")
        with session.begin_nested():
            outbox.enqueue(session, "probe", key="kept")
        with pytest.raises(RuntimeError), session.begin_nested():
            outbox.enqueue(session, "probe", key="rolled-back")
            session.flush()
            raise RuntimeError("savepoint fails")
        assert stub_broker.queues["default"].qsize() == 0  # nothing sent before the commit
    _drain(stub_broker, stub_worker)
    assert effects == {"outer": 1, "kept": 1}


def test_finished_messages_are_deleted_after_the_retention_in_bounded_batches(committed_factory):
    import datetime as dt

    from hub.db import utcnow

    old, recent = utcnow() - dt.timedelta(days=20), utcnow() - dt.timedelta(days=2)
    with committed_factory.begin() as session:
        rows = [outbox.enqueue(session, "probe", key=str(i)) for i in range(9)]
        outbox.take_pending(session)
    ids = [r.id for r in rows]
    with committed_factory.begin() as session:
        # 5 processed long ago, 1 processed lately, 1 dead long ago, 2 still open
        session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids[:5]))
            .values(processed_at=old, created_at=old)
        )
        session.execute(
            sa.update(OutboxMessage).where(OutboxMessage.id == ids[5]).values(processed_at=recent)
        )
        session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id == ids[6])
            .values(dead_at=old, created_at=old)
        )
        session.add_all(
            [
                ProcessedMessage(message_id=f"old-{i}", actor_name="probe", processed_at=old)
                for i in range(4)
            ]
            + [ProcessedMessage(message_id="recent", actor_name="probe", processed_at=recent)]
        )
    assert relay.purge(committed_factory, days=0) == (0, 0)  # 0 keeps everything
    # two per batch, at most two batches per run: the next run goes on
    assert relay.purge(committed_factory, days=14, batch=2, max_batches=2) == (4, 4)
    assert relay.purge(committed_factory, days=14, batch=2, max_batches=2) == (1, 0)
    assert relay.purge(committed_factory, days=14) == (0, 0)
    with committed_factory() as session:
        left = set(session.scalars(sa.select(OutboxMessage.id)))
        records = set(session.scalars(sa.select(ProcessedMessage.message_id)))
    assert left == set(ids[5:])  # recent, dead and open rows stay
    assert records == {"recent"}


def test_the_scheduler_runs_the_retention_hourly():
    from apscheduler.schedulers.background import BackgroundScheduler

    from actors.scheduler import add_jobs

    jobs = {
        j.id: j
        for j in add_jobs(
            BackgroundScheduler(), None, None, {"payhub.outbox_retention_days": "7"}
        ).get_jobs()
    }
    assert jobs["outbox_retention"].trigger.interval.total_seconds() == 3600


def test_a_message_is_enqueued_with_its_outbox_id_queue_and_arguments(stub_broker):
    _declare_probe(stub_broker)
    row = {
        "id": 1,
        "message_id": "outbox-message-1",
        "queue_name": None,  # the actor's own queue
        "actor_name": "probe",
        "args": {"key": "k"},
        "attempts": 0,
    }
    relay.send(stub_broker, row)
    (queued,) = [dramatiq.Message.decode(m) for m in stub_broker.queues["default"].queue]
    assert queued.message_id == "outbox-message-1"
    assert (queued.queue_name, queued.actor_name) == ("default", "probe")
    assert (queued.args, queued.kwargs) == ((), {"key": "k"})
