"""ACA bulk v2 (hub.aca_bulk, hub.aca.AcaUploadClient) against nodesim's ACA over HTTP: every
request our client sends and every answer it gets are checked against pagoPA's
``gpd-4-aca_massive_v2.json`` (openapi-core); the file inside is pagopa-gpd-upload's format."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
import requests
import sqlalchemy as sa
from openapi_core import OpenAPI

from hub import aca, aca_bulk, clock
from hub.models import AcaSync, AcaUpload, Anomaly, OutboxMessage
from hub.positions.writer import cancel_position, create_position
from nodesim.aca import BASE, BASE_V2
from tests.factories import make_ente
from tests.hub.aca_support import KEY, CheckedSession, faults, load_contract, position_data, state

pytestmark = pytest.mark.pg
BROKER = "77777777777"


@pytest.fixture(scope="module")
def contract() -> OpenAPI:
    return load_contract("gpd-4-aca_massive_v2.json")


@pytest.fixture
def bulk(sim, contract):
    base = sim.application_url.rstrip("/") + BASE_V2
    session = CheckedSession(contract, label=lambda path: path.rsplit("/", 1)[-1])
    return aca.AcaUploadClient(base, KEY, session=session, broker=BROKER)


@pytest.fixture
def one(sim):
    return aca.AcaClient(sim.application_url.rstrip("/") + BASE, KEY)


def _deliver(db, actor: str) -> list[int]:
    """What the outbox delivers to ``actor``: the messages' first argument."""
    db.flush()
    messages = db.scalars(sa.select(OutboxMessage).where(OutboxMessage.actor_name == actor)).all()
    db.execute(sa.delete(OutboxMessage).where(OutboxMessage.actor_name == actor))
    return [next(iter(m.args.values())) for m in messages if m.processed_at is None]


def _sweep(db, threshold: int = 2) -> tuple[list[int], list[int]]:
    """One sweep: (positions queued one by one, uploads queued)."""
    aca.queue_out_of_step(db, bulk_threshold=threshold)
    aca_bulk.queue_due(db, poll_seconds=0)
    return _deliver(db, aca.SYNC_ACTOR), _deliver(db, aca.BULK_ACTOR)


def _positions(db, ente, n: int, prefix: str = "BULK"):
    made = [
        create_position(db, ente, position_data(f"{prefix}-{i}"), publish=True) for i in range(n)
    ]
    db.flush()
    return made


def test_a_large_load_goes_as_one_zip_of_payment_positions_and_its_report_is_applied(db, sim, bulk):
    ente = make_ente(db)
    aca.set_enabled(db, ente, True)
    made = _positions(db, ente, 3)
    singles, [upload_id] = _sweep(db)
    assert singles == []
    assert {r.state for r in db.scalars(sa.select(AcaSync))} == {"pending"}
    assert aca_bulk.step(db, bulk, upload_id, max_attempts=3) == "uploaded"
    assert bulk.session.sent[-1] == ("POST", "file", 202)
    assert _sweep(db) == ([], [upload_id])  # due a poll (poll_seconds=0)
    assert aca_bulk.step(db, bulk, upload_id, max_attempts=3) == "done"
    assert [op for _, op, _ in bulk.session.sent] == ["file", "status", "report"]
    held = {p["iupd"]: p for p in state(sim)["positions"]}
    assert sorted(held) == ["BULK-0", "BULK-1", "BULK-2"]
    assert {p["status"] for p in held.values()} == {"VALID"}
    assert len(held["BULK-0"]["paymentOption"][0]["transfer"]) == 2
    for position in made:
        row = db.get(AcaSync, position.id)
        assert (row.state, row.synced_version) == ("synced", position.version)
        assert row.aca_state == "valid"
    assert _sweep(db) == ([], [])  # in step: nothing more


def test_the_upload_file_is_a_zip_of_a_payment_positions_json(db, sim, bulk):
    ente = make_ente(db)
    aca.set_enabled(db, ente, True)
    _positions(db, ente, 3)
    _, [upload_id] = _sweep(db)
    seen: list[bytes] = []
    original = bulk.session.request

    def spy(method, url, *args, **kwargs):
        if "files" in kwargs:
            seen.append(kwargs["files"]["file"][1])
        return original(method, url, *args, **kwargs)

    bulk.session.request = spy
    aca_bulk.step(db, bulk, upload_id, max_attempts=3)
    with zipfile.ZipFile(io.BytesIO(seen[0])) as archive:
        [name] = archive.namelist()
        document = json.loads(archive.read(name))
    assert name.endswith(".json")
    assert [p["iupd"] for p in document["paymentPositions"]] == ["BULK-0", "BULK-1", "BULK-2"]
    assert "status" not in document["paymentPositions"][0]


def test_a_small_load_goes_one_by_one_and_positions_changed_meanwhile_are_handed_back(
    db, sim, bulk, one
):
    ente = make_ente(db)
    aca.set_enabled(db, ente, True)
    _positions(db, ente, 2, "FEW")
    singles, uploads = _sweep(db)
    assert (len(singles), uploads) == (2, [])

    other = make_ente(db)
    aca.set_enabled(db, other, True)
    [gone, *_] = _positions(db, other, 3, "MANY")
    _, [upload_id] = _sweep(db)
    cancel_position(db, gone, cause="test")
    db.flush()
    aca_bulk.step(db, bulk, upload_id, max_attempts=3)
    db.flush()
    db.expire_all()
    assert len(db.get(AcaUpload, upload_id).versions) == 2  # stored, not only in memory
    singles, _ = _sweep(db)
    assert singles == [gone.id]  # the one-by-one feed takes it
    assert aca.sync_position(db, one, gone.id, max_attempts=3) == "synced"


def test_positions_refused_in_the_report_are_retried_one_by_one(db, sim, bulk, one):
    ente = make_ente(db)
    aca.set_enabled(db, ente, True)
    made = _positions(db, ente, 3, "REF")
    faults(sim, refuseIupds=["REF-1"], uploadPolls=1)
    _, [upload_id] = _sweep(db)
    aca_bulk.step(db, bulk, upload_id, max_attempts=3)
    _sweep(db)
    assert aca_bulk.step(db, bulk, upload_id, max_attempts=3) == "uploaded"  # IN_PROGRESS
    _sweep(db)
    assert aca_bulk.step(db, bulk, upload_id, max_attempts=3) == "done"
    refused = db.get(AcaSync, made[1].id)
    assert refused.state == "failed" and "500" in refused.last_error
    faults(sim)
    with clock.use(clock.FakeClock(clock.now() + aca.backoff(1))):
        singles, _ = _sweep(db)
    assert singles == [made[1].id]
    assert aca.sync_position(db, one, made[1].id, max_attempts=3) == "synced"
    assert len(state(sim)["positions"]) == 3


def test_a_lost_answer_uploads_again_and_the_conflicts_are_put_one_by_one(db, sim, bulk, one):
    ente = make_ente(db)
    aca.set_enabled(db, ente, True)
    made = _positions(db, ente, 3, "LOST")
    _, [upload_id] = _sweep(db)
    aca_bulk.step(db, bulk, upload_id, max_attempts=3)
    _sweep(db)
    aca_bulk.step(db, bulk, upload_id, max_attempts=3)
    upload = db.get(AcaUpload, upload_id)
    # as if the first 202 had been lost: the same positions uploaded again
    upload.file_id, upload.state = None, "pending"
    for position in made:
        db.get(AcaSync, position.id).state = "pending"
    aca_bulk.step(db, bulk, upload_id, max_attempts=3)
    _sweep(db)
    assert aca_bulk.step(db, bulk, upload_id, max_attempts=3) == "done"
    rows = [db.get(AcaSync, p.id) for p in made]
    assert {(r.state, r.synced_version, r.aca_state) for r in rows} == {("synced", None, "valid")}
    singles, _ = _sweep(db)
    assert sorted(singles) == sorted(p.id for p in made)
    assert [aca.sync_position(db, one, i, max_attempts=3) for i in singles] == ["synced"] * 3
    assert len(state(sim)["positions"]) == 3


def test_a_second_delivery_of_a_step_changes_nothing(db, sim, bulk):
    ente = make_ente(db)
    aca.set_enabled(db, ente, True)
    _positions(db, ente, 3, "TWICE")
    _, [upload_id] = _sweep(db)
    assert aca_bulk.step(db, bulk, upload_id, max_attempts=3) == "uploaded"
    assert aca_bulk.step(db, bulk, upload_id, max_attempts=3) == "uploaded"
    assert len(bulk.session.sent) == 1
    assert len(state(sim)["files"]) == 1


def test_failures_are_retried_with_backoff_then_dead_lettered_and_handed_back(db, sim, bulk):
    ente = make_ente(db)
    aca.set_enabled(db, ente, True)
    made = _positions(db, ente, 3, "DEAD")
    faults(sim, fail=100, status=500)
    fake = clock.FakeClock(clock.now())
    with clock.use(fake):
        _, [upload_id] = _sweep(db)
        assert aca_bulk.step(db, bulk, upload_id, max_attempts=2) == "failed"
        assert _sweep(db) == ([], [])  # backing off
        fake.advance(aca.backoff(1))
        assert _sweep(db) == ([], [upload_id])
        assert aca_bulk.step(db, bulk, upload_id, max_attempts=2) == "dead"
        anomaly = db.scalar(sa.select(Anomaly).where(Anomaly.kind == "aca_upload_dead"))
        assert anomaly is not None and "500" in anomaly.detail
        singles, uploads = _sweep(db)
    assert (sorted(singles), uploads) == (sorted(p.id for p in made), [])


def test_nodesim_refuses_a_file_that_is_not_a_zip_of_positions(sim, contract):
    base = sim.application_url.rstrip("/") + BASE_V2
    url = f"{base}/brokers/{BROKER}/organizations/1/debtpositions/file"
    headers = {"Ocp-Apim-Subscription-Key": KEY}
    not_zip = requests.post(url, files={"file": ("a.zip", b"nope")}, headers=headers, timeout=5)
    assert not_zip.status_code == 400 and not_zip.json()["status"] == 400
    content = io.BytesIO()
    with zipfile.ZipFile(content, "w") as archive:
        archive.writestr("a.csv", "x")
    wrong = requests.post(
        url, files={"file": ("a.zip", content.getvalue())}, headers=headers, timeout=5
    )
    assert wrong.status_code == 400 and "unsupported" in wrong.json()["detail"]
    missing = requests.get(url + "/nope/report", headers=headers, timeout=5)
    assert missing.status_code == 404


def test_a_report_asked_before_the_file_is_processed_is_not_ready_yet(db, sim, bulk):
    ente = make_ente(db)
    aca.set_enabled(db, ente, True)
    _positions(db, ente, 3, "EARLY")
    faults(sim, uploadPolls=5)
    _, [upload_id] = _sweep(db)
    aca_bulk.step(db, bulk, upload_id, max_attempts=3)
    file_id = db.get(AcaUpload, upload_id).file_id
    assert bulk.upload_report(ente.fiscal_code, file_id) is None  # 425 Too Early
    assert bulk.session.sent[-1] == ("GET", "report", 425)
    assert bulk.upload_status(ente.fiscal_code, file_id)["operationStatus"] == "IN_PROGRESS"


def test_an_ente_switched_off_before_the_file_is_sent_sends_nothing(db, sim, bulk):
    ente = make_ente(db)
    aca.set_enabled(db, ente, True)
    _positions(db, ente, 3, "OFF")
    _, [upload_id] = _sweep(db)
    aca.set_enabled(db, ente, False)
    assert aca_bulk.step(db, bulk, upload_id, max_attempts=3) == "done"
    assert bulk.session.sent == [] and state(sim)["positions"] == []
    assert _sweep(db) == ([], [])  # switched off: nothing one by one either
