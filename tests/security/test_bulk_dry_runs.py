"""Issue 17 items 11 and 13: bulk dry runs cost a bounded answer (the first errors and their
total), bounded lines (a CSV line or a JSON element over its limit is one row error), big dry
runs go to the worker, and a JSON element nested 100k deep is a row error, never a 500 or a
load stuck pending."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from hub.models import BulkLoad, DebtPosition
from hub.positions import bulk
from hub.seed import seed_demo
from hub.tenants import api_keys
from tests.hub.positions.test_bulk import body, csv_bytes, row
from tests.security.conftest import build

# WebOb copies a body over 10 KB to a temporary file to make it seekable (for pyramid_retry) and
# leaves it to the garbage collector: its ResourceWarning may land in any later test
pytestmark = [
    pytest.mark.pg,
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]
URL = "/api/v1/enti/77777777777/bulk-loads"
CSV = {"Content-Type": "text/csv"}
JSON = {"Content-Type": "application/json"}
DEEP = "[" * 100_000 + "]" * 100_000


@pytest.fixture
def bulk_site(pg_url, committed_factory, tmp_path):
    with committed_factory.begin() as session:
        seed_demo(session)
        key = api_keys.create_key(session, "gestionale", ["77777777777"]).secret

    def make(**extra: str):
        app = build(pg_url, **{"payhub.bulk_load_dir": str(tmp_path), **extra})
        return app, {"Authorization": f"Bearer {key}"}

    return make


def _array(*elements: str) -> bytes:
    return ("[" + ",".join(elements) + "]").encode()


def _run(factory, public_id: str) -> BulkLoad:
    with factory.begin() as session:
        load_id = session.scalar(sa.select(BulkLoad.id).where(BulkLoad.public_id == public_id))
    for _ in range(20):
        with factory.begin() as session:
            if not bulk.run_chunk(session, load_id, max_errors=1000):
                break
    with factory() as session:
        load = session.get(BulkLoad, load_id)
        session.expunge(load)
        return load


def test_a_dry_run_answers_the_first_1000_errors_and_their_total(bulk_site):
    app, auth = bulk_site()
    data = _array(*["{}"] * 1500)
    answer = app.post(URL + "?dryRun=true", data, headers={**auth, **JSON})
    assert answer.status_int == 200
    assert len(answer.json["errors"]) == 1000 and answer.json["errorsTruncated"] is True
    assert answer.json["errorsTotal"] > 1500 and answer.json["rowsFailed"] == 1500


def test_a_small_dry_run_says_it_is_whole():
    result = bulk.DryRun(max_errors=2)
    result.add_errors([bulk.RowError(1, "a", "x")])
    assert (len(result.errors), result.errors_total) == (1, 1)
    result.add_errors([bulk.RowError(2, "a", "x"), bulk.RowError(3, "a", "x")])
    assert (len(result.errors), result.errors_total) == (2, 3)


def test_a_csv_line_over_the_limit_is_one_row_error(bulk_site):
    app, auth = bulk_site()
    header, first, last = csv_bytes([row("A"), row("C")]).split(b"\r\n")[:3]
    long = b"B," + b"x" * (bulk.MAX_LINE_BYTES * 4)
    data = b"\r\n".join([header, first, long, last, b""])
    answer = app.post(URL + "?dryRun=true", data, headers={**auth, **CSV})
    assert answer.status_int == 200, answer.text
    assert answer.json["positionsValid"] == 2 and answer.json["rowsFailed"] == 1
    [error] = answer.json["errors"]
    assert error["row"] == 3 and "longer than" in error["message"]


def test_a_json_element_over_the_limit_is_one_row_error(bulk_site):
    app, auth = bulk_site()
    big = json.dumps({**body("B"), "description": "x" * (bulk.MAX_ELEMENT_BYTES + 10)})
    data = _array(json.dumps(body("A")), big, json.dumps(body("C")))
    answer = app.post(URL + "?dryRun=true", data, headers={**auth, **JSON})
    assert answer.status_int == 200, answer.text
    assert answer.json["positionsValid"] == 2
    [error] = answer.json["errors"]
    assert error["row"] == 2 and "larger than" in error["message"]


def test_json_nested_100k_deep_is_a_row_error_in_a_dry_run(bulk_site):
    app, auth = bulk_site()
    data = _array(json.dumps(body("A")), DEEP, json.dumps(body("C")))
    answer = app.post(URL + "?dryRun=true", data, headers={**auth, **JSON}, status="*")
    assert answer.status_int == 200, answer.text
    assert answer.json["positionsValid"] == 2
    [error] = answer.json["errors"]
    assert error["row"] == 2 and "nested deeper" in error["message"]


def test_json_nested_100k_deep_is_a_row_error_in_a_real_load(bulk_site, committed_factory):
    app, auth = bulk_site()
    data = _array(json.dumps(body("A")), DEEP, '{"a": [' + DEEP + "]}", json.dumps(body("C")))
    answer = app.post(URL, data, headers={**auth, **JSON}, status=202)
    load = _run(committed_factory, answer.json["id"])
    assert load.status.value == "done", load.error
    assert (load.positions_created, load.positions_failed) == (2, 2)
    report = app.get(URL + f"/{load.public_id}/report", headers=auth).text
    assert "nested deeper" in report


def test_a_big_dry_run_runs_in_the_worker(bulk_site, committed_factory, tmp_path):
    app, auth = bulk_site(**{"payhub.bulk_dry_run_inline_bytes": "1000"})
    with committed_factory() as session:
        positions = session.scalar(sa.select(sa.func.count()).select_from(DebtPosition))
    data = _array(json.dumps(body("A")), *["{}"] * 1500)
    answer = app.post(URL + "?dryRun=true", data, headers={**auth, **JSON}, status=202)
    assert answer.json["dryRun"] is True and answer.json["status"] == "pending"
    assert answer.location.endswith(answer.json["id"])
    load = _run(committed_factory, answer.json["id"])
    status = app.get(answer.location, headers=auth).json
    assert status["dryRun"] is True and status["status"] == "done"
    assert (status["positionsCreated"], status["positionsFailed"]) == (1, 1500)
    assert "the report lists the first 1000" in status["error"]
    report = app.get(status["report"], headers=auth).text.strip().splitlines()
    assert len(report) == 1 + 1000
    with committed_factory() as session:  # a dry run writes nothing
        assert session.scalar(sa.select(sa.func.count()).select_from(DebtPosition)) == positions
    assert load.public_id and list(tmp_path.iterdir()) == []
