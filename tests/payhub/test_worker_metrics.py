"""Dramatiq's own metrics (messages, errors, durations per actor) from `payhub worker`, on
payhub.worker_metrics_port of 127.0.0.1; off unless set, and never in web processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dramatiq
import pytest
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker

from actors.broker import add_worker_metrics


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_middleware_is_added_only_to_a_redis_broker_with_a_port(redis_url):
    stub = StubBroker()
    assert add_worker_metrics(stub, {"payhub.worker_metrics_port": "9191"}) is False
    redis_broker = RedisBroker(url=redis_url)
    try:
        assert add_worker_metrics(redis_broker, {"payhub.worker_metrics_port": ""}) is False
        assert not any(type(m).__name__ == "Prometheus" for m in redis_broker.middleware)
    finally:
        redis_broker.close()


@pytest.mark.slow
@pytest.mark.pg
def test_payhub_worker_serves_dramatiq_metrics_on_its_port(tmp_path: Path, pg_url, redis_url):
    port = _free_port()
    ini = tmp_path / "worker.ini"
    ini.write_text(
        "[app:main]\nuse = call:payhub.app:main\n"
        f"sqlalchemy.url = {pg_url}\npayhub.broker = redis\n"
        f"payhub.redis_url = {redis_url}\npayhub.redis_namespace = wm-test\n"
        f"payhub.worker_metrics_port = {port}\npayhub.log_level = WARNING\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("dramatiq_prom")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "payhub.cli",
            "-c",
            str(ini),
            "worker",
            "--processes",
            "1",
            "--threads",
            "1",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    sender = RedisBroker(url=redis_url, namespace="wm-test")
    sender.enqueue(
        dramatiq.Message(
            queue_name="default",
            actor_name="expire_lapsed_activations",
            args=(),
            kwargs={},
            options={},
        )
    )
    sender.close()
    try:
        deadline = time.monotonic() + 40
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as answer:
                    text = answer.read().decode()
                if "dramatiq_messages_total" in text or time.monotonic() > deadline:
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError(
                        proc.stderr.read().decode()[-2000:]
                        if proc.poll() is not None
                        else "no metrics"
                    ) from None
            time.sleep(0.3)
        assert "dramatiq_messages_total" in text
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stderr.close()
