"""The dashboard's ACA page: each published position's state with ACA, the share in step
(KPI B.4) and the per-Ente switch, which only support staff may turn."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hub.models import AcaEnte, AcaSync, AuditEvent, DebtPosition, Ente, OutboxMessage
from hub.seed import DEMO_SUPPORT
from tests.web.ops.conftest import A

pytestmark = pytest.mark.pg


def _published(factory) -> list[DebtPosition]:
    with factory() as s:
        ente = s.scalar(sa.select(Ente).where(Ente.fiscal_code == A))
        return list(
            s.scalars(
                sa.select(DebtPosition)
                .where(DebtPosition.ente_id == ente.id, DebtPosition.published_at.is_not(None))
                .order_by(DebtPosition.id)
            )
        )


def test_support_switches_the_feed_and_the_page_shows_each_state_and_the_share(ops):
    published = _published(ops.factory)
    assert len(published) >= 2
    ops.login()  # an Ente operator sees the page, not the switch
    page = ops.app.get(f"/ops/enti/{A}/aca")
    assert "Switch the feed on" not in page.text
    assert ops.post(f"/ops/enti/{A}/aca/switch", {"enabled": "on"}).status_int == 403
    ops.app.reset()  # another browser
    ops.login(DEMO_SUPPORT)
    ops.post(f"/ops/enti/{A}/aca/switch", {"enabled": "on"}, status=303)
    with ops.factory.begin() as s:
        ente = s.scalar(sa.select(Ente).where(Ente.fiscal_code == A))
        assert s.get(AcaEnte, ente.id).enabled
        first, second = published[0], published[1]
        s.add(
            AcaSync(
                position_id=first.id,
                state="synced",
                synced_version=first.version,
                aca_state="valid",
                paid_told=[],
                attempts=0,
            )
        )
        s.add(
            AcaSync(
                position_id=second.id,
                state="dead",
                aca_state="absent",
                paid_told=[],
                attempts=8,
                last_error="POST /organizations: 500 injected fault",
            )
        )
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
