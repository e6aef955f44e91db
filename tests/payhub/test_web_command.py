"""``payhub web``: production's web server (granian) serves the app built in each worker from
the .ini it was given, says what is wrong with its own options, and stops when told.
(Refusing an open station before any worker starts: tests/soap/test_station_today.py.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import requests

from tests.payhub.test_cli import _free_port
from tests.soap.test_station_today import ROOT, _ini, production_env


def _command(ini: object, *options: str) -> list[str]:
    return [sys.executable, "-m", "payhub.cli", "-c", str(ini), "web", *options]


def test_web_serves_the_app_from_its_workers_and_stops_on_sigterm(tmp_path, pg_url, redis_url):
    ini = _ini(tmp_path, pg_url, **{"payhub.soap_allowed_networks": "127.0.0.0/8"})
    port = _free_port()
    log = tmp_path / "web.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            _command(ini, "--workers", "2", "--threads", "2"),
            cwd=tmp_path,  # the workers find the .ini wherever they start
            env=production_env(PAYHUB_BIND=f"127.0.0.1:{port}", REDIS_URL=redis_url),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        answer = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and server.poll() is None:
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/health", timeout=5)
                break
            except requests.ConnectionError:
                time.sleep(0.3)
        assert answer is not None, "payhub web did not answer within 60 s"
        assert answer.status_code == 200
        health = answer.json()
        assert health["database"]["ok"] and health["broker"]["backend"] == "redis"
        assert answer.headers["server"] == "granian"
        # the app's own headers: its tweens ran (HSTS from payhub.public_url's https)
        assert answer.headers["Strict-Transport-Security"].startswith("max-age=")
        assert answer.headers["X-Request-Id"]
        wsdl = requests.get(f"http://127.0.0.1:{port}/soap/paForNode?wsdl", timeout=10)
        assert wsdl.status_code == 200 and b"paVerifyPaymentNotice" in wsdl.content
        # a chunked body (no Content-Length) is read by the gate and cut at the limit
        chunks = (b"x" * 65536 for _ in range(40))  # 2.5 MiB, over the 1 MiB default
        refused = requests.post(f"http://127.0.0.1:{port}/level1/v1/payments", data=chunks)
        assert refused.status_code == 413
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
            raise
    assert server.returncode == 0
    output = log.read_text()
    assert "Traceback" not in output


def test_web_refuses_a_bind_without_a_port(tmp_path, pg_url):
    ini = _ini(tmp_path, pg_url, **{"payhub.soap_allowed_networks": "127.0.0.0/8"})
    done = subprocess.run(
        _command(ini, "--bind", "localhost"),
        cwd=ROOT,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "host:port" in done.stderr


def test_web_refuses_the_shipped_placeholders_without_a_traceback(tmp_path):
    done = subprocess.run(
        _command(ROOT / "production.ini", "--bind", "127.0.0.1:1"),
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("PAYHUB_")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "payhub.session_secret" in done.stderr and "Traceback" not in done.stderr
