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
from actors.middleware import current_session
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


def test_committed_messages_are_delivered_after_commit(stub_broker, stub_worker,
                                                       committed_factory):
    _declare_probe(stub_broker)
    effects.clear()
    _write(committed_factory, "a", "b")
    _drain(stub_broker, stub_worker)
    assert effects == {"a": 1, "b": 1}
    with committed_factory() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)
                              .where(OutboxMessage.sent_at.is_(None))) == 0


def test_a_rolled_back_transaction_sends_nothing(stub_broker, stub_worker, committed_factory):
    _declare_probe(stub_broker)
    effects.clear()
    with pytest.raises(RuntimeError), committed_factory.begin() as session:
        outbox.enqueue(session, "probe", key="ghost")
        raise RuntimeError("business failure")
    _write(committed_factory, "real")
    _drain(stub_broker, stub_worker)
    assert effects == {"real": 1}


def test_the_same_message_sent_twice_has_its_effect_once(stub_broker, stub_worker,
                                                        committed_factory):
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_redis(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
def test_with_redis_stopped_business_commits_and_messages_arrive_once_it_is_back(
        committed_factory):
    port = _free_port()
    server = _start_redis(port)
    settings = {"payhub.broker": "redis", "payhub.redis_url": f"redis://127.0.0.1:{port}/0",
                "payhub.embedded_worker": "false"}
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
        with committed_factory() as session:
            unsent = session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)
                                    .where(OutboxMessage.sent_at.is_(None)))
        assert unsent == len(keys)
        server = _start_redis(port)  # Redis is back, with an empty queue
        import datetime as dt

        assert relay.sweep(broker, committed_factory, grace=dt.timedelta(0)) == len(keys)
        assert relay.sweep(broker, committed_factory, grace=dt.timedelta(0)) == 0
        worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=4)
        worker.start()
        try:
            broker.join("default", timeout=20_000)
            worker.join()
        finally:
            worker.stop()
        assert effects == dict.fromkeys(keys, 1)
    finally:
        server.kill()
        server.wait()
        broker.close()


def test_messages_wait_for_the_outer_commit_and_skip_rolled_back_savepoints(
        stub_broker, stub_worker, committed_factory):
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
