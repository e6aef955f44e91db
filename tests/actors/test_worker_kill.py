"""A worker killed mid-message: its message comes back within seconds, not minutes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from actors import broker as broker_mod
from actors.outbox import send
from tests.conftest import REDIS_URL

pytestmark = [pytest.mark.pg, pytest.mark.redis, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def test_default_tuning_requeues_in_seconds_not_minutes():
    broker = broker_mod.make_broker({"payhub.broker": "redis", "payhub.redis_url": REDIS_URL})
    assert broker.heartbeat_timeout <= 15_000  # dramatiq's default is 60 s
    assert broker.maintenance_chance >= 10_000  # default 1,000 per million commands
    broker.close()


def _worker(ini: Path) -> subprocess.Popen:
    env = {**os.environ, "PAYHUB_CONFIG": str(ini)}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dramatiq",
            "payhub.worker_boot",
            "--processes",
            "1",
            "--threads",
            "1",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_killed_worker_message_is_redelivered_to_another_worker(tmp_path, pg_url, redis_url):
    ini = tmp_path / "worker.ini"
    ini.write_text(
        "[app:main]\nuse = call:payhub.app:main\n"
        f"sqlalchemy.url = {pg_url}\npayhub.broker = redis\npayhub.redis_url = {redis_url}\n"
        "payhub.redis_namespace = payhub-killtest\npayhub.heartbeat_timeout_ms = 3000\n"
        "payhub.extra_actor_modules = tests.actors.slow_actor\npayhub.log_level = WARNING\n"
    )
    settings = {
        "payhub.broker": "redis",
        "payhub.redis_url": redis_url,
        "payhub.redis_namespace": "payhub-killtest",
        "payhub.extra_actor_modules": "tests.actors.slow_actor",
    }
    from hub.db import make_engine, make_session_factory

    engine = make_engine(pg_url)
    broker = broker_mod.setup(settings, make_session_factory(engine))
    first = _worker(ini)
    second = None
    try:
        send(
            broker,
            {
                "id": 0,
                "message_id": "00000000-0000-0000-0000-00000000dead",
                "queue_name": "default",
                "actor_name": "slow_probe",
                "args": {"marker_dir": str(tmp_path), "seconds": 8},
            },
        )
        assert _wait(lambda: any(tmp_path.glob("started-*")), 30), "first worker never started"
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        killed_at = time.monotonic()
        second = _worker(ini)
        assert _wait(lambda: (tmp_path / "done").exists(), 60), "message was not redelivered"
        assert len(list(tmp_path.glob("started-*"))) == 2
        # 8 s of work after a requeue that takes a few seconds: well under a minute
        assert time.monotonic() - killed_at < 40
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=20)
        broker.close()
        engine.dispose()
