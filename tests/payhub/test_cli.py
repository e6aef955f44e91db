"""The CLI: what `make demo` runs (migrate, seed-demo, serve) works on a fresh SQLite file."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from click.testing import CliRunner

from payhub.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _ini(tmp_path: Path) -> Path:
    ini = tmp_path / "demo.ini"
    ini.write_text(
        (ROOT / "development.ini")
        .read_text()
        .replace("sqlite:///var/payhub.sqlite", f"sqlite:///{tmp_path / 'var' / 'demo.sqlite'}")
    )
    return ini


def test_migrate_then_seed_demo_twice_on_a_fresh_sqlite_file(tmp_path):
    ini = _ini(tmp_path)
    runner = CliRunner()
    result = runner.invoke(main, ["-c", str(ini), "migrate"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "var" / "demo.sqlite").exists()
    first = runner.invoke(main, ["-c", str(ini), "seed-demo"])
    assert first.exit_code == 0, first.output
    assert "positions created" in first.output and "0 positions" not in first.output
    again = runner.invoke(main, ["-c", str(ini), "seed-demo"])
    assert "0 positions created" in again.output


def test_worker_refuses_the_stub_broker_with_a_clear_message(tmp_path):
    result = CliRunner().invoke(main, ["-c", str(_ini(tmp_path)), "worker"])
    assert result.exit_code != 0 and "payhub.broker = redis" in result.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_answers_health_with_the_embedded_worker(tmp_path):
    ini = _ini(tmp_path)
    runner = CliRunner()
    assert runner.invoke(main, ["-c", str(ini), "migrate"]).exit_code == 0
    port = _free_port()
    env = {**os.environ, "PAYHUB_CONFIG": str(ini)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "payhub.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    body = json.load(r)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        assert body["status"] == "ok" and body["database"]["backend"] == "sqlite"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
