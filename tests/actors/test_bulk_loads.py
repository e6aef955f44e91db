"""The bulk-load actor: one message per chunk until the file is loaded; a message whose worker
dies mid-chunk is redelivered and resumes from the checkpoint, creating nothing twice.
Publishing and cancelling what a load created: one message per chunk too, idempotent."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from actors import bulk as bulk_actor
from hub.models import BulkLoad, BulkLoadStatus, DebtPosition, Ente, StateTransition
from hub.positions import bulk, bulk_changes
from tests.factories import make_ente
from tests.hub.positions.test_bulk import csv_bytes, row

pytestmark = pytest.mark.pg


def _start(factory, tmp_path, rows):
    path = tmp_path / "load.csv"
    path.write_bytes(csv_bytes(rows))
    with factory.begin() as session:
        ente = make_ente(session)
        stored = bulk.StoredFile(path, path.stat().st_size, "0" * 64, "csv")
        return bulk.create_load(session, ente, stored, publish=False, cause="test").id, ente.id


def test_the_actor_loads_the_file_chunk_by_chunk(
    committed_factory, stub_broker, stub_worker, tmp_path, monkeypatch
):
    monkeypatch.setattr(bulk, "CHUNK_ROWS", 3)
    load_id, _ = _start(
        committed_factory, tmp_path, [row(f"A-{k}") for k in range(8)] + [row("BAD", "1.001")]
    )
    stub_broker.join("default", fail_fast=True)
    stub_worker.join()
    with committed_factory() as session:
        load = session.get(BulkLoad, load_id)
        assert load.status == BulkLoadStatus.DONE
        assert (load.rows_done, load.rows_failed, load.positions_created) == (9, 1, 8)
        assert session.scalar(sa.select(sa.func.count()).select_from(DebtPosition)) == 8


def test_a_chunk_interrupted_mid_way_is_redone_once(
    committed_factory, stub_broker, stub_worker, tmp_path, monkeypatch
):
    monkeypatch.setattr(bulk, "CHUNK_ROWS", 2)
    monkeypatch.setattr(
        bulk_actor.run_bulk_load,
        "options",
        {**bulk_actor.run_bulk_load.options, "min_backoff": 10, "max_backoff": 50},
    )
    real = bulk.write_chunk
    calls = {"n": 0}

    def dying(session, ente, items, **kwargs):
        real(session, ente, items, **kwargs)  # the positions are written ...
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("worker killed")  # ... and the transaction never commits

    monkeypatch.setattr(bulk, "write_chunk", dying)
    load_id, ente_id = _start(committed_factory, tmp_path, [row(f"K-{k}") for k in range(5)])
    stub_broker.join("default")
    stub_worker.join()
    with committed_factory() as session:
        load = session.get(BulkLoad, load_id)
        assert (load.status, load.rows_done, load.positions_created) == (BulkLoadStatus.DONE, 5, 5)
        iupds = session.scalars(
            sa.select(DebtPosition.iupd).where(DebtPosition.ente_id == ente_id)
        ).all()
        assert sorted(iupds) == [f"K-{k}" for k in range(5)]
        assert session.get(Ente, ente_id) is not None
    assert calls["n"] == 4  # three chunks, the second one twice


def test_a_notice_batch_can_select_the_printable_positions_a_load_created(
    committed_factory, stub_broker, stub_worker, tmp_path, monkeypatch
):
    from hub.printing import batches

    monkeypatch.setattr(bulk, "CHUNK_ROWS", 2)
    path = tmp_path / "load.csv"
    path.write_bytes(csv_bytes([row(f"P-{k}") for k in range(5)]))
    with committed_factory.begin() as session:
        ente = make_ente(session)
        stored = bulk.StoredFile(path, path.stat().st_size, "0" * 64, "csv")
        load = bulk.create_load(session, ente, stored, publish=True, cause="test")
        public_id, ente_id = load.public_id, ente.id
    stub_broker.join("default", fail_fast=True)
    stub_worker.join()
    with committed_factory.begin() as session:
        ente = session.get(Ente, ente_id)
        loaded = set(
            session.scalars(
                sa.select(DebtPosition.id).where(
                    DebtPosition.bulk_load_id
                    == session.scalar(sa.select(BulkLoad.id).where(BulkLoad.public_id == public_id))
                )
            )
        )
        assert len(loaded) == 5
        other = make_ente(session)  # another Ente cannot select this load
        with pytest.raises(bulk.DomainError):
            batches.create_batch(session, other, notice_numbers=None, bulk_load=public_id)
        batch = batches.create_batch(session, ente, bulk_load=public_id)
        assert batch.total == 5 and batch.selection == {"bulkLoad": public_id}


def _loaded(factory, stub_broker, stub_worker, tmp_path, count):
    load_id, _ = _start(factory, tmp_path, [row(f"P-{k}") for k in range(count)])
    stub_broker.join("default", fail_fast=True)
    stub_worker.join()
    return load_id


def _drain(stub_broker, stub_worker, rounds):
    for _ in range(rounds):  # each chunk's message writes the next one through the outbox
        stub_broker.join("default", fail_fast=True)
        stub_broker.join("webhooks", fail_fast=True)
        stub_worker.join()


def _statuses(factory, load_id):
    with factory() as session:
        return session.execute(
            sa.select(DebtPosition.status, sa.func.count())
            .where(DebtPosition.bulk_load_id == load_id)
            .group_by(DebtPosition.status)
        ).all()


def test_publishing_then_cancelling_a_load_goes_chunk_by_chunk_with_history(
    committed_factory, stub_broker, stub_worker, tmp_path, monkeypatch
):
    monkeypatch.setattr(bulk_changes, "CHUNK", 3)
    load_id = _loaded(committed_factory, stub_broker, stub_worker, tmp_path, 7)
    assert _statuses(committed_factory, load_id) == [("draft", 7)]

    stub_broker.get_actor(bulk_changes.ACTORS["publish"]).send(load_id=load_id, cause="api:test")
    _drain(stub_broker, stub_worker, 3)  # 3 + 3 + 1
    assert _statuses(committed_factory, load_id) == [("payable", 7)]

    stub_broker.get_actor(bulk_changes.ACTORS["cancel"]).send(load_id=load_id, cause="api:test")
    _drain(stub_broker, stub_worker, 3)
    assert _statuses(committed_factory, load_id) == [("cancelled", 7)]
    with committed_factory() as session:
        history = session.execute(
            sa.select(StateTransition.event, StateTransition.cause, sa.func.count())
            .where(StateTransition.cause == "api:test")
            .group_by(StateTransition.event, StateTransition.cause)
            .order_by(StateTransition.event)
        ).all()
    assert history == [("cancel", "api:test", 7), ("publish", "api:test", 7)]


def test_a_redelivered_cancel_changes_nothing_twice(
    committed_factory, stub_broker, stub_worker, tmp_path
):
    load_id = _loaded(committed_factory, stub_broker, stub_worker, tmp_path, 2)
    for _ in range(2):
        with committed_factory.begin() as session:
            done, more = bulk_changes.change_load_chunk(
                session, load_id, "cancel", cause="api:test"
            )
    assert (done, more) == (0, None)
    with committed_factory() as session:
        count = session.scalar(
            sa.select(sa.func.count())
            .select_from(StateTransition)
            .where(StateTransition.event == "cancel")
        )
    assert count == 2 and _statuses(committed_factory, load_id) == [("cancelled", 2)]
