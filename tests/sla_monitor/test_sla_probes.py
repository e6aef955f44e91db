"""Availability probes: the station over real HTTP as the Node calls it, and /health."""

from __future__ import annotations

import datetime as dt

import pytest
import requests
import sqlalchemy as sa
from webtest.http import StopableWSGIServer

from hub.models.sla import SlaProbe
from hub.seed import SANP_NOTICE, seed_demo
from sla_monitor import probes
from sla_monitor.probes import ProbeConfig
from tests.soap.conftest import build_app

WHO = "77777777777 77777777777 77777777777_01"


@pytest.fixture
def station(pg_url, committed_factory):
    """The whole app on a loopback HTTP server, demo data committed: its base URL."""
    with committed_factory() as session:
        seed_demo(session)
        session.commit()
    app = build_app(pg_url, **{"payhub.sla_recorder": "false"})
    server = StopableWSGIServer.create(app, threads=2)
    yield server.application_url.rstrip("/")
    server.shutdown()
    app.close()  # the SOAP fast path's kept connections
    app.registry["db.engine"].dispose()


def config(base: str, notice: str = SANP_NOTICE, **extra: str) -> ProbeConfig:
    return ProbeConfig.from_settings(
        {
            "payhub.sla_probe_url": f"{base}/soap/paForNode",
            "payhub.sla_probe_notice": f"{WHO} {notice}",
            "payhub.sla_probe_health_url": f"{base}/health",
            **extra,
        }
    )


@pytest.mark.pg
def test_a_healthy_station_answers_both_probes_and_they_are_stored(station, committed_factory):
    results = probes.run_probes(committed_factory, config(station))
    assert [(p.target, p.ok, p.error) for p in results] == [
        ("verify", True, None),
        ("health", True, None),
    ]
    with committed_factory() as session:
        stored = session.scalars(sa.select(SlaProbe).order_by(SlaProbe.id)).all()
        assert [p.target for p in stored] == ["verify", "health"]
        assert all(p.ms > 0 for p in stored)
        now = dt.datetime.now(dt.UTC)
        assert probes.availability(session, now - dt.timedelta(hours=1), now) == {
            "verify": (1, 1),
            "health": (1, 1),
        }


@pytest.mark.pg
def test_an_unknown_probe_notice_is_a_business_ko_and_still_an_answer(station, committed_factory):
    [verify] = probes.run_probes(
        committed_factory,
        ProbeConfig.from_settings(
            {
                "payhub.sla_probe_url": f"{station}/soap/paForNode",
                "payhub.sla_probe_notice": f"{WHO} 399999999999999903",
            }
        ),
    )
    assert verify.ok and verify.error is None


@pytest.mark.pg
def test_a_probe_without_the_stations_auth_header_would_be_refused(pg_url, committed_factory):
    app = build_app(
        pg_url, **{"payhub.sla_recorder": "false", "payhub.soap_auth_header": "X-Node-Key: s3cret"}
    )
    server = StopableWSGIServer.create(app, threads=1)
    base = server.application_url.rstrip("/")
    try:
        with committed_factory() as session:
            seed_demo(session)
            session.commit()
        assert probes.probe_once(
            "verify",
            f"{base}/soap/paForNode",
            config(base, **{"payhub.soap_auth_header": "X-Node-Key: s3cret"}),
        ).ok
        refused = probes.probe_once("verify", f"{base}/soap/paForNode", config(base))
        assert not refused.ok and refused.error == "HTTP 403"
    finally:
        server.shutdown()
        app.close()  # the SOAP fast path's kept connections
        app.registry["db.engine"].dispose()


def test_a_station_that_does_not_answer_is_down():
    # port 9 (discard) on loopback: nothing listens there
    probe = probes.probe_once(
        "verify",
        "http://127.0.0.1:9/soap/paForNode",
        config("http://127.0.0.1:9", **{"payhub.sla_probe_timeout_seconds": "0.5"}),
    )
    assert not probe.ok and probe.error == "ConnectionError"


class FakeHttp:
    def __init__(self, status: int = 200, body: bytes = b"", error: Exception | None = None):
        self.status, self.body, self.error = status, body, error
        self.calls: list[tuple[str, float]] = []

    def post(self, url, data, headers, timeout):
        return self._answer(url, timeout)

    def get(self, url, timeout):
        return self._answer(url, timeout)

    def _answer(self, url, timeout):
        self.calls.append((url, timeout))
        if self.error:
            raise self.error
        return type("Answer", (), {"status_code": self.status, "content": self.body})()


KO = (
    b"<Envelope><Body><paVerifyPaymentNoticeRes><outcome>KO</outcome><fault><faultCode>"
    b"%s</faultCode></fault></paVerifyPaymentNoticeRes></Body></Envelope>"
)


@pytest.mark.parametrize(
    ("http", "error"),
    [
        (FakeHttp(body=KO % b"PAA_SYSTEM_ERROR"), "PAA_SYSTEM_ERROR"),
        (FakeHttp(body=KO % b"PAA_PAGAMENTO_SCADUTO"), None),
        (FakeHttp(status=503, body=b"busy"), "HTTP 503"),
        (FakeHttp(body=b"<html>proxy error"), "not XML"),
        (
            FakeHttp(body=b'<e:Envelope xmlns:e="urn:x"><e:Body><e:Fault/></e:Body></e:Envelope>'),
            "SOAP Fault",
        ),
        (FakeHttp(error=requests.Timeout()), "Timeout"),
    ],
)
def test_what_counts_as_an_answer(http, error):
    probe = probes.probe_once("verify", "http://station/", config("http://station"), http)
    assert probe.ok is (error is None) and probe.error == error
    assert http.calls == [("http://station/", 5.0)]


def test_a_malformed_probe_notice_setting_is_refused():
    with pytest.raises(ValueError):
        ProbeConfig.from_settings({"payhub.sla_probe_notice": "77777777777 311111111112222222"})


def test_nothing_configured_probes_nothing():
    assert probes.run_probes(None, ProbeConfig.from_settings({})) == []


@pytest.mark.pg
def test_the_actor_probes_with_the_brokers_settings_and_holds_no_transaction(
    station, committed_factory
):
    import dramatiq

    from actors import broker as broker_mod
    from sla_monitor import actors as sla_actors

    broker = broker_mod.setup(
        {
            "payhub.broker": "stub",
            "payhub.embedded_worker": "false",
            "payhub.sla_probe_url": f"{station}/soap/paForNode",
            "payhub.sla_probe_notice": f"{WHO} {SANP_NOTICE}",
        },
        committed_factory,
    )
    worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=1)
    worker.start()
    try:
        sla_actors.sla_probe_station.send()
        broker.join("default")
        worker.join()
    finally:
        worker.stop()
    with committed_factory() as session:
        [probe] = session.scalars(sa.select(SlaProbe)).all()
    assert (probe.target, probe.ok) == ("verify", True)
