"""Bulk-load endpoints: dry run, upload and progress, report, and the usual key checks."""

from __future__ import annotations

import json

import pytest

from hub.config import from_registry
from hub.positions import bulk
from tests.hub.positions.test_bulk import body, csv_bytes, row

pytestmark = pytest.mark.pg
CSV = {"Content-Type": "text/csv"}


@pytest.fixture
def upload_dir(world, tmp_path, monkeypatch):
    settings = world.app.app.registry.settings
    monkeypatch.setitem(settings, "payhub.bulk_load_dir", str(tmp_path))
    return tmp_path


def _url(world, tail="", ente=None):
    return f"/api/v1/enti/{ente or world.ente}/bulk-loads{tail}"


def test_dry_run_lists_every_bad_row_and_writes_nothing(world, upload_dir):
    data = csv_bytes(
        [row("A"), row("B", "1.001"), row("C", transfer1_iban="IT00")], delimiter=";", bom=True
    )
    res = world.app.post(_url(world, "?dryRun=true"), data, headers={**world.auth(), **CSV})
    assert res.status_int == 200
    assert (res.json["rows"], res.json["rowsFailed"], res.json["positionsValid"]) == (3, 2, 1)
    assert {(e["row"], e["field"]) for e in res.json["errors"]} >= {
        (3, "amount"),
        (4, "transfer1_iban"),
    }
    assert world.app.get(world.url(), headers=world.auth()).json["items"] == []
    assert list(upload_dir.iterdir()) == []


def test_a_load_is_accepted_then_progress_and_report_are_readable(world, upload_dir):
    data = json.dumps([body("J-1"), body("J-2", "1.001"), body("J-3")]).encode()
    res = world.app.post(
        _url(world, "?publish=true"),
        data,
        headers={**world.auth(), "Content-Type": "application/json"},
    )
    assert res.status_int == 202 and res.json["status"] == "pending"
    location = res.headers["Location"]
    with world.factory.begin() as session:  # what the actor does, message after message
        from hub.models import BulkLoad

        load_id = session.query(BulkLoad.id).scalar()
    while True:
        with world.factory.begin() as session:
            if not bulk.run_chunk(session, load_id):
                break
    status = world.app.get(location, headers=world.auth()).json
    assert (status["status"], status["rowsDone"], status["rowsFailed"]) == ("done", 3, 1)
    assert status["positionsCreated"] == 2 and status["bytesDone"] == status["fileBytes"]
    report = world.app.get(status["report"], headers=world.auth())
    assert report.content_type == "text/csv"
    lines = report.text.splitlines()
    assert lines[0] == "row,iupd,field,message" and lines[1].startswith("2,J-2,options[0].")
    position = world.app.get(world.url("/J-1"), headers=world.auth()).json
    assert position["status"] == "payable"


def test_keys_are_checked_and_other_entis_loads_are_not_found(world, upload_dir):
    data = csv_bytes([row("A")])
    assert (
        world.app.post(_url(world), data, headers=CSV, status=401).json["code"] == "unauthenticated"
    )
    world.app.post(_url(world), data, headers={**world.auth(world.other_key), **CSV}, status=404)
    res = world.app.post(_url(world), data, headers={**world.auth(), **CSV})
    load = res.json["id"]
    world.app.get(
        _url(world, f"/{load}", ente=world.other), headers=world.auth(world.other_key), status=404
    )
    world.app.get(
        _url(world, f"/{load}/report", ente=world.other),
        headers=world.auth(world.broker_key),
        status=404,
    )
    assert (
        world.app.get(_url(world, f"/{load}"), headers=world.auth(world.broker_key)).json["id"]
        == load
    )


@pytest.mark.parametrize(
    ("data", "headers", "status", "field"),
    [
        (b"iupd,colour\nA,red\n", CSV, 422, "body"),
        (b'{"iupd": "A"}', {"Content-Type": "application/json"}, 422, "body"),
        (b"x", {"Content-Type": "text/plain"}, 415, "Content-Type"),
        (b"", CSV, 422, "body"),
    ],
)
def test_files_that_cannot_be_loaded_are_refused_at_once(
    world, upload_dir, data, headers, status, field
):
    res = world.app.post(_url(world), data, headers={**world.auth(), **headers}, status=status)
    assert res.json["field"] == field
    assert list(upload_dir.iterdir()) == []


def test_query_flags_and_size_limit(world, upload_dir, monkeypatch):
    data = csv_bytes([row("A")] * 20)
    world.app.post(_url(world, "?dryRun=yes"), data, headers={**world.auth(), **CSV}, status=400)
    world.app.post(_url(world, "?colour=red"), data, headers={**world.auth(), **CSV}, status=400)
    registry = world.app.app.registry
    monkeypatch.setitem(
        registry, "payhub.config", from_registry(registry).replace(bulk_max_bytes=100)
    )
    res = world.app.post(_url(world), data, headers={**world.auth(), **CSV}, status=413)
    assert res.json["code"] == "upload_too_large"
    world.app.get(
        _url(world, "/00000000-0000-0000-0000-000000000000"), headers=world.auth(), status=404
    )
    world.app.delete(_url(world), headers=world.auth(), status=405)


def test_a_nul_character_in_a_cell_is_a_row_error_in_the_dry_run(world, upload_dir):
    data = csv_bytes([row("A"), row("B", debtor_name="Ma\x00rio")], delimiter=";")
    res = world.app.post(_url(world, "?dryRun=true"), data, headers={**world.auth(), **CSV})
    assert (res.json["rowsFailed"], res.json["positionsValid"]) == (1, 1)
    [error] = res.json["errors"]
    assert (error["row"], error["field"]) == (3, "debtor_name")
    assert "control characters" in error["message"]  # NUL among them


def test_a_finished_load_is_published_then_cancelled_in_the_background(world, upload_dir):
    from hub.models import BulkLoad, OutboxMessage
    from hub.positions import bulk_changes

    res = world.app.post(
        _url(world), csv_bytes([row("L-1"), row("L-2")]), headers={**world.auth(), **CSV}
    )
    load_url = res.headers["Location"]
    # still pending: its last positions are to come
    assert (
        world.app.post(f"{load_url}/publish", headers=world.auth(), status=409).json["code"]
        == "conflict"
    )
    with world.factory.begin() as session:
        load_id = session.query(BulkLoad.id).scalar()
    while True:
        with world.factory.begin() as session:
            if not bulk.run_chunk(session, load_id):
                break
    for event, state in (("publish", "payable"), ("cancel", "cancelled")):
        res = world.app.post(f"{load_url}/{event}", headers=world.auth())
        assert res.status_int == 202 and res.json["status"] == "done"
        with world.factory.begin() as session:  # what the actor does with the message
            message = session.query(OutboxMessage).filter_by(actor_name=f"{event}_bulk_load").one()
            args = message.args
            done = bulk_changes.change_load_chunk(
                session, args["load_id"], event, cause=args["cause"]
            )
            assert done == (2, None)
            session.delete(message)
        assert world.app.get(world.url("/L-1"), headers=world.auth()).json["status"] == state
    world.app.post(f"{load_url}/cancel", headers=world.auth(world.other_key), status=404)


def test_a_dry_run_cannot_be_published(world, upload_dir):
    from hub.models import Ente

    path = upload_dir / "dry.csv"
    path.write_bytes(csv_bytes([row("D-1")]))
    with world.factory.begin() as session:  # a dry run too big to answer at once
        ente = session.query(Ente).filter_by(fiscal_code=world.ente).one()
        stored = bulk.StoredFile(path, path.stat().st_size, "0" * 64, "csv")
        load = bulk.create_dry_run(session, ente, stored, cause="test")
        load.status = bulk.BulkLoadStatus.DONE
        public_id = load.public_id
    res = world.app.post(_url(world, f"/{public_id}/publish"), headers=world.auth(), status=409)
    assert "dry run" in res.json["detail"]
