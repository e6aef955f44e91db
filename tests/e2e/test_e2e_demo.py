"""`make demo` in miniature: one payhub process on SQLite with nodesim mounted at /sim."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys

import pytest
import requests

from tests.e2e.conftest import ROOT, Proc, free_port, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SANP_NOTICE = "311111111112222222"


def test_demo_pays_a_notice_through_the_simulator_mounted_at_sim(tmp_path):
    port = free_port()
    db = tmp_path / "demo.sqlite"
    ini = tmp_path / "demo.ini"
    ini.write_text((ROOT / "development.ini").read_text()
                   .replace("sqlite:///var/payhub.sqlite", f"sqlite:///{db}")
                   .replace("http://127.0.0.1:6543", f"http://127.0.0.1:{port}")
                   .replace("payhub.log_level = INFO", "payhub.log_level = WARNING"))
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "PAYHUB_BROKER")}
    cli = [sys.executable, "-m", "payhub.cli", "-c", str(ini)]
    for command in ("migrate", "seed-demo"):
        subprocess.run([*cli, command], cwd=ROOT, env=env, check=True, capture_output=True)
    web = Proc("demo", [*cli, "serve", "--port", str(port)], env, tmp_path)
    web.start()
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: requests.get(f"{base}/sim/health", timeout=2).ok, 30,
                 f"the demo\n{web.tail()}")
        assert "Sportello PSP" in requests.get(f"{base}/sim/", timeout=5).text
        paid = requests.post(f"{base}/sim/psp/pay", json={
            "fiscalCode": "77777777777", "noticeNumber": SANP_NOTICE}, timeout=30).json()
        assert paid["delivery"]["status"] == "delivered", paid
        with sqlite3.connect(db) as conn:
            [(status,)] = conn.execute("SELECT status FROM payment_option WHERE "
                                       "notice_number = ?", (SANP_NOTICE,)).fetchall()
            [(count,)] = conn.execute("SELECT count(*) FROM receipt WHERE receipt_id = ?",
                                      (paid["payment"]["receiptId"],)).fetchall()
        assert (status, count) == ("paid", 1)
    finally:
        web.kill(signal.SIGTERM)
