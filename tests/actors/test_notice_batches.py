"""Notice batches: the actor renders chunk after chunk, in parallel lanes, into one zip with an
index; a worker that dies mid-chunk is followed by one that finishes the batch with no file
twice."""

from __future__ import annotations

import csv
import datetime as dt
import io
import threading
import zipfile

import pytest
from pypdf import PdfReader

from actors.middleware import current_settings, use_settings
from hub import clock
from hub.errors import DomainError
from hub.models import BatchStatus, NoticeBatch
from hub.positions.inputs import DebtPositionInput, OptionInput, TransferInput
from hub.positions.writer import create_position
from hub.printing import batches
from tests.factories import IBAN, make_ente, make_position

pytestmark = pytest.mark.pg


def _plan(session, ente):
    due = clock.today() + dt.timedelta(days=30)
    t = [
        TransferInput.of(
            amount="60.00", remittance_information="Tari", category="9/0101108TS/", iban=IBAN
        )
    ]
    options = [OptionInput.of(amount="60.00", due_date=due, transfers=t)] + [
        OptionInput.of(
            amount="20.00",
            due_date=due + dt.timedelta(days=30 * n),
            instalment_number=n,
            instalment_count=3,
            transfers=[
                TransferInput.of(
                    amount="20.00",
                    remittance_information="Tari",
                    category="9/0101108TS/",
                    iban=IBAN,
                )
            ],
        )
        for n in (1, 2, 3)
    ]
    return create_position(
        session,
        ente,
        DebtPositionInput.of(
            iupd="PLAN-1",
            debtor_type="F",
            debtor_fiscal_code="RSSMRA80A01H501U",
            debtor_name="Mario Rossi",
            description="TARI 2026",
            options=options,
        ),
        publish=True,
        cause="test",
    )


@pytest.fixture
def loaded(committed_factory):
    with committed_factory.begin() as session:
        ente = make_ente(session)
        ente.postal_iban = "IT57N0760103200000016302093"
        singles = [make_position(session, ente) for _ in range(4)]
        plan = _plan(session, ente)
        numbers = [p.options[0].notice_number for p in singles] + [plan.options[2].notice_number]
        return ente.id, numbers


def _zip_contents(path):
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        index = list(csv.DictReader(io.StringIO(zf.read("index.csv").decode())))
        pdfs = {n: zf.read(n) for n in names if n.endswith(".pdf")}
    return names, index, pdfs


def test_actor_builds_the_zip_chunk_by_chunk_with_pdfs_and_index(
    committed_factory, stub_broker, stub_worker, loaded, tmp_path, monkeypatch
):
    ente_id, numbers = loaded
    use_settings(stub_broker, current_settings().replace(notice_batch_dir=str(tmp_path)))
    monkeypatch.setattr(batches, "CHUNK", 2)
    from hub.models import Ente

    with committed_factory.begin() as session:
        batch = batches.create_batch(
            session, session.get(Ente, ente_id), notice_numbers=numbers, variant="it-en"
        )
        batch_id = batch.id
    stub_broker.join("default", fail_fast=True)
    stub_worker.join()

    with committed_factory() as session:
        batch = session.get(NoticeBatch, batch_id)
        assert batch.status == BatchStatus.DONE and batch.rendered == batch.total == 5
        names, index, pdfs = _zip_contents(batch.zip_path)
        assert batch.zip_bytes > 0
    assert names[0] == "index.csv" and len(pdfs) == 5 == len(set(names) - {"index.csv"})
    assert len(index) == 4 + 4  # four single notices, the plan's full option and 3 instalments
    assert {r["notice_number"] for r in index} >= set(numbers)
    plan_file = next(r["file"] for r in index if r["instalment"] == "3/3")
    plan_pages = PdfReader(io.BytesIO(pdfs[plan_file])).pages
    assert len(plan_pages) == 4
    assert "PAYMENT NOTICE" in plan_pages[0].extract_text()
    assert not (tmp_path / f"{batch.public_id}.parts").exists()


def test_a_chunk_lost_with_its_worker_is_redone_without_duplicates(
    committed_factory, loaded, tmp_path
):
    ente_id, numbers = loaded
    from hub.models import Ente

    with committed_factory.begin() as session:
        batch_id = batches.create_batch(
            session, session.get(Ente, ente_id), notice_numbers=numbers
        ).id
    with committed_factory.begin() as session:  # first chunk commits
        assert batches.run_chunk(session, batch_id, tmp_path, chunk=2)
    session = committed_factory()
    batches.run_chunk(session, batch_id, tmp_path, chunk=2)  # files written, then the crash:
    session.rollback()
    session.close()
    with committed_factory() as session:
        assert session.get(NoticeBatch, batch_id).rendered == 2
    more = True
    while more:  # the redelivered messages
        with committed_factory.begin() as session:
            more = batches.run_chunk(session, batch_id, tmp_path, chunk=2)
    with committed_factory() as session:
        batch = session.get(NoticeBatch, batch_id)
        names, _, pdfs = _zip_contents(batch.zip_path)
    assert len(names) == len(set(names)) == 6
    assert len(pdfs) == 5
    with committed_factory.begin() as session:  # a late duplicate message changes nothing
        assert batches.run_chunk(session, batch_id, tmp_path) is False


def test_unknown_notice_numbers_or_an_empty_selection_are_refused(committed_factory, loaded):
    ente_id, numbers = loaded
    from hub.models import Ente

    with committed_factory() as session:
        ente = session.get(Ente, ente_id)
        with pytest.raises(DomainError, match="399999999999999999"):
            batches.create_batch(session, ente, notice_numbers=[*numbers, "399999999999999999"])
        with pytest.raises(DomainError, match="exactly one"):
            batches.create_batch(session, ente)
        with pytest.raises(DomainError, match="no printable"):
            batches.create_batch(session, ente, iupds=["NOPE"])


def test_a_position_that_cannot_be_printed_is_listed_and_the_rest_go_on(
    committed_factory, loaded, tmp_path
):
    ente_id, numbers = loaded
    from hub.models import Ente, PaymentOption

    with committed_factory.begin() as session:
        too_big = session.query(PaymentOption).filter_by(notice_number=numbers[0]).one()
        too_big.amount_cents = 10_000_000_000  # 100 million euro: no notice code carries it
        batch_id = batches.create_batch(
            session, session.get(Ente, ente_id), notice_numbers=numbers
        ).id
    with committed_factory.begin() as session:
        assert batches.run_chunk(session, batch_id, tmp_path) is True
    with committed_factory.begin() as session:  # nothing left: the zip
        assert batches.run_chunk(session, batch_id, tmp_path) is False
    with committed_factory() as session:
        batch = session.get(NoticeBatch, batch_id)
        assert batch.status == BatchStatus.DONE
        assert batches.status_json(batch, session)["unprintable"] == 1
        _, index, pdfs = _zip_contents(batch.zip_path)
    assert len(pdfs) == 4
    (bad,) = [r for r in index if r["notice_number"] == numbers[0]]
    assert bad["file"] == "" and "99,999,999.99" in bad["error"]


def test_resume_sends_lost_batches_again(
    committed_factory, stub_broker, stub_worker, loaded, tmp_path
):
    ente_id, numbers = loaded
    use_settings(stub_broker, current_settings().replace(notice_batch_dir=str(tmp_path)))
    from hub.models import Ente

    stub_worker.pause()
    with committed_factory.begin() as session:
        batch_id = batches.create_batch(
            session, session.get(Ente, ente_id), notice_numbers=numbers
        ).id
    stub_broker.flush_all()  # the broker lost its queue (an in-process broker restarted)
    stub_worker.resume()
    with committed_factory.begin() as session:
        assert batches.resume_unfinished(session) == 1
    stub_broker.join("default", fail_fast=True)
    stub_worker.join()
    with committed_factory() as session:
        assert session.get(NoticeBatch, batch_id).status == BatchStatus.DONE


def test_concurrent_lanes_render_each_position_once(committed_factory, loaded, tmp_path):
    ente_id, numbers = loaded
    from hub.models import Ente

    with committed_factory.begin() as session:
        batch_id = batches.create_batch(
            session, session.get(Ente, ente_id), notice_numbers=numbers
        ).id
    chunks: list[int] = []
    start = threading.Barrier(3)

    def lane() -> None:
        start.wait()
        more = True
        while more:
            with committed_factory.begin() as session:
                more = batches.run_chunk(session, batch_id, tmp_path, chunk=1)
            chunks.append(int(more))

    threads = [threading.Thread(target=lane) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(chunks) == 5  # five chunks of one item rendered, by whichever lane
    with committed_factory() as session:
        batch = session.get(NoticeBatch, batch_id)
        assert batch.status == BatchStatus.DONE and batch.rendered == 5
        names, _, pdfs = _zip_contents(batch.zip_path)
    assert len(names) == len(set(names)) == 6 and len(pdfs) == 5
