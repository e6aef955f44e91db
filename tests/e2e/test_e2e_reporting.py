"""The end of the payment cycle on the real stack: a notice paid at nodesim's PSP desk, the
simulated day ended, payhub's scheduler and worker fetch the flow over SOAP from nodesim
(nodoChiediElencoFlussiRendicontazione / nodoChiediFlussoRendicontazione), and the bank
statement nodesim writes, loaded with ``payhub reconcile statement``, reconciles it."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import REDIS_URL
from tests.e2e.conftest import EC, ROOT, Proc, Receiver, Stack, embedded_demo, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.pg, pytest.mark.redis, pytest.mark.slow]


@pytest.fixture(scope="module")
def reporting_stack(e2e_db, tmp_path_factory) -> Iterator[tuple[Stack, Path]]:
    """The e2e stack plus the Node's reporting settings (nodesim's nodeForPa, the demo
    station) and a scheduler process that polls the flow list every few seconds."""
    import redis

    redis.Redis.from_url(REDIS_URL).ping()
    tmp = tmp_path_factory.mktemp("e2e-fdr")
    stack = Stack(e2e_db, tmp)
    ini = Path(stack.web.env["PAYHUB_CONFIG"])
    ini.write_text(
        ini.read_text() + f"payhub.node_url = {stack.sim}/nodeForPa\n"
        "payhub.node_id_broker_pa = 77777777777\n"
        "payhub.node_id_station = 77777777777_01\n"
        "payhub.node_password = password01\n"
        "payhub.reporting_poll_minutes = 0.05\n"
    )
    scheduler = Proc(
        "payhub-scheduler",
        [sys.executable, "-m", "payhub.cli", "-c", str(ini), "scheduler"],
        stack.web.env,
        tmp,
    )
    try:
        stack.start()
        scheduler.start()
        yield stack, ini
    finally:
        scheduler.kill()
        stack.stop()
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"{stack.namespace}*"):
            client.delete(key)
        client.close()


def test_paid_at_the_desk_then_reported_by_the_flow_then_reconciled_by_the_bank(
    reporting_stack, tmp_path
):
    stack, ini = reporting_stack
    receiver = Receiver()
    receiver.start()
    registered = stack.api("POST", "/webhooks", json={"url": receiver.url})
    assert registered.status_code == 201, registered.text
    notice = stack.new_notice("42.50")
    paid = stack.pay(notice)
    stack.wait_delivery(paid["payment"]["receiptId"])
    wait_for(lambda: stack.option(notice)["status"] == "paid", 30, "the option to be paid")

    ended = requests.post(f"{stack.sim}/api/clock", json={"days": 1}, timeout=10).json()
    assert ended["closedFlows"], ended
    wait_for(
        lambda: stack.option(notice)["status"] == "reported",
        60,
        "the flow to be fetched and the option reported",
    )
    [flow] = stack.rows("SELECT flow_id, status, computed_total_cents FROM reporting_flow")
    assert flow["flow_id"] in ended["closedFlows"] and flow["status"] == "received"
    assert flow["computed_total_cents"] == 4250

    statement = tmp_path / "statement.csv"
    statement.write_bytes(
        requests.get(
            f"{stack.sim}/bank/statement.csv", params={"fiscalCode": EC}, timeout=10
        ).content
    )
    cli = [
        sys.executable,
        "-m",
        "payhub.cli",
        "-c",
        str(ini),
        "reconcile",
        "statement",
        str(statement),
        "--ente",
        EC,
    ]
    first = subprocess.run(
        cli, cwd=ROOT, env=stack.web.env, capture_output=True, text=True, timeout=60
    )
    again = subprocess.run(
        cli, cwd=ROOT, env=stack.web.env, capture_output=True, text=True, timeout=60
    )

    assert first.returncode == 0, first.stderr
    assert "1 payments reconciled" in first.stdout, first.stdout
    assert "1 already loaded" in again.stdout, again.stdout
    assert stack.option(notice)["status"] == "reconciled"
    assert stack.transitions(notice, "report") == 1 and stack.transitions(notice, "reconcile") == 1
    assert stack.anomalies(notice) == []
    # the Ente's application heard each step once, through payment_status_changed
    wait_for(lambda: len(receiver.events(notice)) >= 3, 30, "the three webhooks")
    try:
        types = [json.loads(r["body"])["type"] for r in receiver.events(notice)]
        assert types == ["payment.paid", "payment.reported", "payment.reconciled"]
    finally:
        stack.api("DELETE", f"/webhooks/{registered.json()['id']}")
        receiver.stop()


def test_make_demo_reports_and_reconciles_on_sqlite_with_the_embedded_worker(tmp_path):
    """The same cycle in `make demo` (one process: SQLite, stub broker, in-process worker and
    scheduler, nodesim at /sim): the poll reaches the mounted simulator over HTTP."""
    notice = "311111111112222222"
    faster = {"payhub.reporting_poll_minutes = 1": "payhub.reporting_poll_minutes = 0.05"}
    with embedded_demo(tmp_path, replace=faster) as (base, db, ini):
        paid = requests.post(
            f"{base}/sim/psp/pay", json={"fiscalCode": EC, "noticeNumber": notice}, timeout=30
        ).json()
        assert paid["delivery"]["status"] == "delivered", paid
        requests.post(f"{base}/sim/api/clock", json={"days": 1}, timeout=10).raise_for_status()

        def status() -> str:
            with sqlite3.connect(db) as conn:
                [(value,)] = conn.execute(
                    "SELECT status FROM payment_option WHERE notice_number = ?", (notice,)
                ).fetchall()
            return value

        wait_for(lambda: status() == "reported", 60, "the demo to fetch the flow")
        statement = tmp_path / "camt053.xml"
        statement.write_bytes(
            requests.get(
                f"{base}/sim/bank/camt053.xml", params={"fiscalCode": EC}, timeout=10
            ).content
        )
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "REDIS_URL", "PAYHUB_BROKER")
        }
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "payhub.cli",
                "-c",
                str(ini),
                "reconcile",
                "statement",
                str(statement),
                "--ente",
                EC,
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0 and "1 payments reconciled" in done.stdout, (
            done.stdout + done.stderr
        )
        assert status() == "reconciled"
