"""The public status page and the maintenance banner of the citizen pages (issue 19)."""

from __future__ import annotations

import datetime as dt

import pytest

from hub.models.sla import SlaProbe
from hub.models.sla_contract import SlaAlert, SlaMaintenance
from hub.seed import seed_demo
from web.status import forget_cached_window

pytestmark = pytest.mark.pg


@pytest.fixture
def app(build_app, pg_url, committed_factory):
    with committed_factory.begin() as session:
        seed_demo(session)
    forget_cached_window()
    yield build_app(pg_url, **{"payhub.session_secret": "s" * 40, "payhub.ops_secret": "o" * 40})
    forget_cached_window()


def test_status_says_unknown_without_probes_then_up_then_down(app, committed_factory):
    page = app.get("/status?lang=en")
    assert 'data-state="unknown"' in page.text and "no data" in page.text
    now = dt.datetime.now(dt.UTC)
    with committed_factory.begin() as session:
        session.add(SlaProbe(at=now, target="health", ok=True, ms=3.0))
    # a public page: its figures are computed at most every 30 s per process
    assert 'data-state="unknown"' in app.get("/status").text
    forget_cached_window()
    assert 'data-state="up"' in app.get("/status").text
    with committed_factory.begin() as session:
        session.add(SlaProbe(at=now + dt.timedelta(seconds=1), target="verify", ok=False, ms=3.0))
        session.add(
            SlaAlert(key="availability", title="Station unavailable", detail="x", opened_at=now)
        )
    forget_cached_window()
    page = app.get("/status?lang=en")
    assert 'data-state="down"' in page.text
    assert "Station unavailable" in page.text and "in progress" in page.text


def test_citizen_pages_show_a_banner_during_maintenance(app, committed_factory):
    assert 'id="maintenance-banner"' not in app.get("/pay/?lang=en").text
    now = dt.datetime.now(dt.UTC)
    with committed_factory.begin() as session:
        session.add(
            SlaMaintenance(
                starts_at=now - dt.timedelta(minutes=5),
                ends_at=now + dt.timedelta(hours=1),
                affects="payments <b>and</b> receipts",
                ente_codes=[],
                created_by="ops:test",
            )
        )
    forget_cached_window()
    page = app.get("/pay/?lang=en")
    assert 'id="maintenance-banner"' in page.text
    assert "payments &lt;b&gt;and&lt;/b&gt; receipts" in page.text  # escaped
    assert 'id="maintenance-banner"' in app.get("/status").text
