"""The unit of work fails the message whenever its transaction fails: a commit that fails is
retried (its effect is not lost), and a failure before the duplicate check never runs the
actor unguarded. Dramatiq swallows errors raised in middleware hooks, so both must happen
inside the actor call."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import dramatiq
import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from actors import middleware
from actors import outbox as relay
from actors.middleware import current_session
from hub import outbox
from hub.models import OutboxMessage, ProcessedMessage

pytestmark = pytest.mark.pg

runs: Counter[str] = Counter()
effect = sa.Table(
    "test_uow_effect", sa.MetaData(), sa.Column("key", sa.String(40), primary_key=True)
)


@pytest.fixture
def effect_table(pg_engine) -> Iterator[sa.Table]:
    effect.create(pg_engine, checkfirst=True)
    yield effect
    effect.drop(pg_engine)


@pytest.fixture
def record(stub_broker, effect_table) -> dramatiq.Actor:
    """An actor whose effect is a row in its own transaction, retried quickly."""
    if "uow_record" not in stub_broker.actors:

        @dramatiq.actor(
            actor_name="uow_record",
            broker=stub_broker,
            max_retries=3,
            min_backoff=10,
            max_backoff=50,
        )
        def uow_record(key: str) -> None:
            runs[key] += 1
            current_session().execute(sa.insert(effect).values(key=key))

    runs.clear()
    return stub_broker.actors["uow_record"]


def _fail_once(factory, hook: str, when) -> list[str]:
    """Make the next ``hook`` event of a session running a message raise, once."""
    fired: list[str] = []

    def fail(session, *args) -> None:
        if not fired and getattr(middleware._local, "message", None) is not None and when(session):
            fired.append(hook)
            raise OperationalError("COMMIT", {}, Exception("server closed the connection"))

    event.listen(factory, hook, fail)
    return fired


def _drain(broker, worker) -> None:
    broker.join("default", timeout=10_000)
    worker.join()


def _effects(factory) -> list[str]:
    with factory() as session:
        return list(session.scalars(sa.select(effect.c.key)))


def test_a_failed_commit_fails_the_message_so_it_is_retried_and_its_effect_kept(
    committed_factory, stub_broker, stub_worker, record
):
    # the commit that follows the actor's run (not the duplicate check's savepoint)
    fired = _fail_once(committed_factory, "before_commit", lambda session: runs["receipt-1"])
    with committed_factory.begin() as session:
        outbox.enqueue(session, "uow_record", key="receipt-1")
    _drain(stub_broker, stub_worker)
    assert fired == ["before_commit"]
    assert runs["receipt-1"] == 2  # the first run's commit failed; Dramatiq retried it
    assert _effects(committed_factory) == ["receipt-1"]
    with committed_factory() as session:
        row = session.scalars(sa.select(OutboxMessage)).one()
        assert row.processed_at is not None  # in the same transaction as the effect


def test_a_failure_before_the_duplicate_check_never_runs_the_actor_unguarded(
    committed_factory, stub_broker, stub_worker, record
):
    fired = _fail_once(
        committed_factory,
        "before_flush",
        lambda session: any(isinstance(o, ProcessedMessage) for o in session.new),
    )
    with committed_factory.begin() as session:
        outbox.enqueue(session, "uow_record", key="receipt-2")
    _drain(stub_broker, stub_worker)
    assert fired == ["before_flush"]
    assert runs["receipt-2"] == 1  # not run when the check failed; run once on the retry
    with committed_factory() as session:
        message = outbox.message_dict(session.scalars(sa.select(OutboxMessage)).one())
    relay.send(stub_broker, message)  # a redelivery finds the guard in place
    _drain(stub_broker, stub_worker)
    assert runs["receipt-2"] == 1
    assert _effects(committed_factory) == ["receipt-2"]


def test_an_actor_called_directly_outside_a_worker_runs_plainly(record):
    with pytest.raises(RuntimeError, match="no unit of work"):
        record.fn(key="direct")  # current_session() has no message to belong to
    assert runs["direct"] == 1
