"""The daily files over the REST API: the list of days with status, one zip fetched (streamed,
named with its hash), a past day built on demand; another Ente's key sees nothing."""

from __future__ import annotations

import hashlib
import io
import zipfile

import pytest
import sqlalchemy as sa

from hub import actor_names
from hub.dailyfile import files
from hub.models import Ente, OutboxMessage
from tests.hub.dailyfile.data import DAY, add_receipt, at, went_live

pytestmark = pytest.mark.pg


@pytest.fixture
def built(world, tmp_path):
    with world.factory.begin() as session:
        ente = session.scalar(sa.select(Ente).where(Ente.fiscal_code == world.ente))
        for hour in (9, 10, 11):
            add_receipt(session, ente, None, paid_at=at(hour), cents=1000 + hour)
        file, _ = files.produce(session, ente, "GENERICO", DAY, tmp_path)
        return {"sha256": file.sha256, "name": file.file_name, "path": file.path}


def test_the_list_gives_each_day_and_service_with_its_status(world, built):
    answer = world.app.get(
        f"/api/v1/enti/{world.ente}/daily-files?from=2026-12-01&to=2026-12-31",
        headers=world.auth(),
    )
    (item,) = answer.json["items"]
    assert item["businessDate"] == DAY.isoformat() and item["service"] == "GENERICO"
    assert item["payments"] == 3 and item["total"] == "30.30"
    assert item["sha256"] == built["sha256"] and item["versions"] == 1
    assert item["delivery"] == "delivered"  # nowhere to deliver: nothing pending


def test_one_file_is_fetched_byte_for_byte_with_its_hash(world, built):
    answer = world.app.get(
        f"/api/v1/enti/{world.ente}/daily-files/{DAY.isoformat()}/GENERICO", headers=world.auth()
    )
    assert answer.content_type == "application/zip"
    assert hashlib.sha256(answer.body).hexdigest() == built["sha256"]
    assert answer.headers["X-Payhub-SHA256"] == built["sha256"]
    assert built["name"] in answer.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(answer.body)) as zf:
        assert "manifest.json" in zf.namelist()


def test_another_entes_key_and_an_unknown_file_get_404(world, built):
    url = f"/api/v1/enti/{world.ente}/daily-files/{DAY.isoformat()}/GENERICO"
    world.app.get(url, headers=world.auth(world.other_key), status=404)
    world.app.get(url + "?version=2", headers=world.auth(), status=404)
    world.app.get(url.replace("GENERICO", "TARI"), headers=world.auth(), status=404)
    world.app.get(url + "?version=x", headers=world.auth(), status=400)


def test_a_past_day_is_built_on_demand_through_the_outbox(world):
    world.app.post(
        f"/api/v1/enti/{world.ente}/daily-files/2026-11-30/build", headers=world.auth(), status=202
    )
    with world.factory() as session:
        args = session.scalar(
            sa.select(OutboxMessage.args).where(
                OutboxMessage.actor_name == actor_names.BUILD_DAILY_FILES
            )
        )
    assert args["day"] == "2026-11-30"
    world.app.post(
        f"/api/v1/enti/{world.ente}/daily-files/2999-01-01/build", headers=world.auth(), status=422
    )


def test_every_route_is_in_the_openapi_document_and_other_methods_get_405(world):
    import re

    from web.api import dailyfiles

    document = world.app.get("/api/v1/openapi.json").json
    for name, (pattern, methods) in dailyfiles.ROUTES.items():
        path = re.sub(r"\{(\w+):[^{}]*(?:\{[^{}]*\}[^{}]*)*\}", lambda m: "{" + m.group(1) + "}",
                      pattern).replace("{fiscal_code}", "{fiscalCode}")  # fmt: skip
        assert {m.lower() for m in methods} == set(document["paths"][path]), name
    world.app.delete(
        f"/api/v1/enti/{world.ente}/daily-files/{DAY.isoformat()}/GENERICO",
        headers=world.auth(),
        status=405,
    )


def test_the_lists_status_follows_the_deliveries_pending_failed_delivered(world, tmp_path):
    from hub.dailyfile import targets
    from hub.models import DailyFileDelivery

    with world.factory.begin() as session:
        ente = session.scalar(sa.select(Ente).where(Ente.fiscal_code == world.ente))
        add_receipt(session, ente, None, paid_at=at(9), cents=1234)
        targets.add_target(session, ente, "email", recipients=["ragioneria@comune.example.it"])
        files.produce(session, ente, "GENERICO", DAY, tmp_path)
    url = f"/api/v1/enti/{world.ente}/daily-files?from={DAY.isoformat()}&to={DAY.isoformat()}"
    seen = []
    for status in (None, "retrying", "dead", "delivered"):
        if status is not None:
            with world.factory.begin() as session:
                session.execute(sa.update(DailyFileDelivery).values(status=status))
        (item,) = world.app.get(url, headers=world.auth()).json["items"]
        seen.append(item["delivery"])
    assert seen == ["pending", "failed", "failed", "delivered"]
    assert item["total"] == "12.34"


def test_a_test_file_is_listed_as_test_beside_the_real_one_and_fetched_by_version(world, tmp_path):
    """The day the Ente went live: its test file (v1) and its real file (v2) are two rows of
    the list, ``test`` telling them apart; the test one is fetched by its version."""
    with world.factory.begin() as session:
        ente = session.scalar(sa.select(Ente).where(Ente.fiscal_code == world.ente))
        test_file, _ = went_live(session, ente, tmp_path)
        test_name = test_file.file_name
    url = f"/api/v1/enti/{world.ente}/daily-files?from={DAY.isoformat()}&to={DAY.isoformat()}"
    items = world.app.get(url, headers=world.auth()).json["items"]
    assert [(i["version"], i["test"], i["payments"]) for i in items] == [
        (2, False, 1),
        (1, True, 1),
    ]
    assert "_TEST_v1_" in items[1]["fileName"] and "TEST" not in items[0]["fileName"]
    answer = world.app.get(
        f"/api/v1/enti/{world.ente}/daily-files/{DAY.isoformat()}/GENERICO?version=1",
        headers=world.auth(),
    )
    assert test_name in answer.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(answer.body)) as zf:
        assert zf.read("manifest.json").count(b'"test": true') == 1
