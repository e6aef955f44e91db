"""Alerts on breaches: e-mail and webhook, once per incident, and a recovery notice."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from hub.config import Config
from hub.models import StandInProbe
from hub.models.sla import SlaProbe
from hub.models.sla_contract import SlaAlert
from hub.sla import alerts, mailer
from tests.e2e.conftest import Receiver

pytestmark = pytest.mark.pg
T0 = dt.datetime(2027, 3, 2, 10, 0, tzinfo=dt.UTC)


def probes(session, first: dt.datetime, oks: list[bool]) -> None:
    for n, ok in enumerate(oks):
        at = first + dt.timedelta(minutes=n, seconds=3)
        session.add(SlaProbe(at=at, target="health", ok=ok, ms=3.0, error=None if ok else "x"))


def test_an_outage_alerts_once_and_its_recovery_once(committed_factory, smtp):
    receiver = Receiver()
    receiver.start()
    try:
        config = Config.from_settings(
            {
                **smtp.settings,
                "payhub.sla_alert_emails": "noc@intermediario.it ops@intermediario.it",
                "payhub.sla_alert_webhook_url": receiver.url,
                "payhub.webhook_allow_http": "true",
                "payhub.outgoing_allowed_networks": "127.0.0.0/8",
            }
        )
        with committed_factory.begin() as session:
            probes(session, T0, [True, True, False, False, False])
        now = T0 + dt.timedelta(minutes=5, seconds=10)
        opened, closed = alerts.evaluate(committed_factory, config, now)
        assert [a.key for a in opened] == ["availability"] and closed == []
        # the next minutes, still down: the same incident, nobody told again
        with committed_factory.begin() as session:
            probes(session, T0 + dt.timedelta(minutes=5), [False])
        assert alerts.evaluate(committed_factory, config, now + dt.timedelta(minutes=1)) == ([], [])
        # back up for five minutes: recovered, told once
        with committed_factory.begin() as session:
            probes(session, T0 + dt.timedelta(minutes=6), [True] * 5)
        later = T0 + dt.timedelta(minutes=11, seconds=10)
        opened, closed = alerts.evaluate(committed_factory, config, later)
        assert opened == [] and [a.key for a in closed] == ["availability"]
        assert alerts.evaluate(committed_factory, config, later) == ([], [])
    finally:
        receiver.stop()
    bodies = [json.loads(r["body"]) for r in receiver.requests]
    assert [b["alert"]["state"] for b in bodies] == ["open", "recovered"]
    assert all(b["alert"]["key"] == "availability" for b in bodies)
    assert mailer.deliver_pending(committed_factory, config) == (4, 0)
    smtp.wait_for(4)
    subjects = sorted(m["Subject"] for m in smtp.messages)
    assert subjects == [
        "[payhub ALERT] Station unavailable",
        "[payhub ALERT] Station unavailable",
        "[payhub RECOVERED] Station unavailable",
        "[payhub RECOVERED] Station unavailable",
    ]
    with committed_factory() as session:
        [row] = session.scalars(sa.select(SlaAlert)).all()
        assert row.webhook_status == "HTTP 200" and row.closed_at == later


def test_standin_seen_is_an_alert_but_our_own_probe_is_not(committed_factory):
    config = Config.from_settings({})
    now = dt.datetime.now(dt.UTC)
    with committed_factory.begin() as session:
        session.add(
            StandInProbe(
                station_code="PAYHUB-SLA-PROBE",
                broker_code="PAYHUB-SLA-PROBE",
                first_at=now,
                last_at=now,
                count=1,
            )
        )
    assert alerts.evaluate(committed_factory, config, now) == ([], [])
    with committed_factory.begin() as session:
        session.add(
            StandInProbe(
                station_code="77777777777_01",
                broker_code="77777777777",
                first_at=now,
                last_at=now,
                count=1,
            )
        )
    opened, _ = alerts.evaluate(committed_factory, config, now)
    assert [a.key for a in opened] == ["standin"] and "77777777777_01" in opened[0].detail
