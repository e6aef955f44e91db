"""The dashboard's ACA page: each published position's state with ACA, the share in step
(KPI B.4) and the per-Ente switch, which only support staff may turn."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from hub.models import (
    AcaEnte,
    AcaSync,
    AcaUpload,
    AuditEvent,
    DebtPosition,
    Ente,
    OutboxMessage,
)
from hub.seed import DEMO_SUPPORT
from tests.web.ops.conftest import A

pytestmark = pytest.mark.pg


@pytest.fixture
def ente_id(ops) -> int:
    """The demo Ente A's id."""
    with ops.factory() as s:
        return s.scalar(sa.select(Ente.id).where(Ente.fiscal_code == A))


@pytest.fixture
def published(ops, ente_id) -> list[DebtPosition]:
    """Ente A's published positions of the demo data, oldest first."""
    with ops.factory() as s:
        return list(
            s.scalars(
                sa.select(DebtPosition)
                .where(DebtPosition.ente_id == ente_id, DebtPosition.published_at.is_not(None))
                .order_by(DebtPosition.id)
            )
        )


def _in_step(position: DebtPosition) -> AcaSync:
    """``position`` synced at its version, valid with ACA."""
    return AcaSync(
        position_id=position.id,
        state="synced",
        synced_version=position.version,
        aca_state="valid",
        paid_told=[],
        attempts=0,
    )


def _failing(position: DebtPosition, state: str, attempts: int, last_error: str) -> AcaSync:
    """``position`` not in ACA (``state``: failed, or dead when given up)."""
    return AcaSync(
        position_id=position.id,
        state=state,
        aca_state="absent",
        paid_told=[],
        attempts=attempts,
        last_error=last_error,
    )


def test_support_switches_the_feed_and_the_page_shows_each_state_and_the_share(
    ops, ente_id, published
):
    assert len(published) >= 2
    ops.login()  # an Ente operator sees the page, not the switch
    page = ops.app.get(f"/ops/enti/{A}/aca")
    assert "Switch the feed on" not in page.text
    assert ops.post(f"/ops/enti/{A}/aca/switch", {"enabled": "on"}).status_int == 403
    ops.app.reset()  # another browser
    ops.login(DEMO_SUPPORT)
    ops.post(f"/ops/enti/{A}/aca/switch", {"enabled": "on"}, status=303)
    with ops.factory.begin() as s:
        assert s.get(AcaEnte, ente_id).enabled
        first, second = published[0], published[1]
        s.add(_in_step(first))
        s.add(_failing(second, "dead", 8, "POST /organizations: 500 injected fault"))
        audit = s.scalar(sa.select(AuditEvent).where(AuditEvent.action == "ops.aca_switch"))
        assert audit.detail == {"enabled": True}
    page = ops.app.get(f"/ops/enti/{A}/aca")
    share = f"{100 / len(published):.1f}%"
    assert share in page.text and f"1 of {len(published)} published positions" in page.text
    assert "given up: support" in page.text and "500 injected fault" in page.text
    assert "in step" in page.text and "Switch the feed off" in page.text
    # support sends the given-up position again: queued through the outbox, attempts reset
    ops.post(f"/ops/enti/{A}/aca/{second.id}/requeue", {}, status=303)
    with ops.factory() as s:
        row = s.get(AcaSync, second.id)
        assert (row.state, row.attempts) == ("pending", 0)
        queued = s.scalars(
            sa.select(OutboxMessage.args).where(OutboxMessage.actor_name == "aca_sync_position")
        ).all()
        assert {"position_id": second.id} in queued
    # in step already: nothing to send again
    ops.post(f"/ops/enti/{A}/aca/{first.id}/requeue", {}, status=303)
    assert "not failing" in ops.app.get(f"/ops/enti/{A}/aca").text


def test_the_page_lists_the_entes_recent_bulk_uploads_with_where_their_positions_stand(
    ops, ente_id, published
):
    first, second = published[0], published[1]
    with ops.factory.begin() as s:
        done = AcaUpload(
            ente_id=ente_id,
            state="done",
            versions={str(first.id): first.version, str(second.id): second.version},
            file_id="file-1",
            done_at=dt.datetime(2026, 11, 3, 9, 30, tzinfo=dt.UTC),
        )
        s.add(done)
        s.flush()
        s.add_all(
            [
                _in_step(first),
                _failing(second, "failed", 1, f"bulk upload {done.id}: 400 bad transfer"),
            ]
        )
        dead = AcaUpload(
            ente_id=ente_id,
            state="dead",
            versions={str(first.id): first.version},
            attempts=8,
            last_error="POST file: 500 injected fault",
        )
        s.add(dead)
        s.flush()
        done_id, dead_id = done.id, dead.id
    ops.login()  # the Ente's own operator sees them
    page = ops.app.get(f"/ops/enti/{A}/aca?lang=en")
    row = page.html.find(id=f"aca-upload-{done_id}")
    cells = [td.text.strip() for td in row("td")]
    assert cells[1] == "done: report applied"
    assert cells[2:6] == ["2", "1", "1", "0"]  # positions, in step, refused, elsewhere
    given_up = page.html.find(id=f"aca-upload-{dead_id}")
    assert given_up["data-state"] == "dead"
    assert "given up" in given_up.text and "500 injected fault" in given_up.text
    # newest first
    ids = [tr["id"] for tr in page.html.find(id="aca-uploads").tbody("tr")]
    assert ids == [f"aca-upload-{dead_id}", f"aca-upload-{done_id}"]
    german = ops.app.get(f"/ops/enti/{A}/aca?lang=de")
    assert "Sammeluploads" in german.text and "given up" not in german.text


def test_an_ente_with_no_bulk_upload_says_so(ops):
    ops.login()
    page = ops.app.get(f"/ops/enti/{A}/aca?lang=en")
    assert "No bulk upload yet." in page.html.find(id="aca-uploads").text
