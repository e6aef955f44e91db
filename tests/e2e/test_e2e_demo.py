"""`make demo` in miniature: one payhub process on SQLite with nodesim mounted at /sim."""

from __future__ import annotations

import sqlite3

import pytest
import requests

from tests.e2e.conftest import embedded_demo

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SANP_NOTICE = "311111111112222222"


def test_demo_pays_a_notice_through_the_simulator_mounted_at_sim(tmp_path):
    with embedded_demo(tmp_path) as (base, db, _ini):
        assert "Sportello PSP" in requests.get(f"{base}/sim/", timeout=5).text
        paid = requests.post(
            f"{base}/sim/psp/pay",
            json={"fiscalCode": "77777777777", "noticeNumber": SANP_NOTICE},
            timeout=30,
        ).json()
        assert paid["delivery"]["status"] == "delivered", paid
        with sqlite3.connect(db) as conn:
            [(status,)] = conn.execute(
                "SELECT status FROM payment_option WHERE notice_number = ?", (SANP_NOTICE,)
            ).fetchall()
            [(count,)] = conn.execute(
                "SELECT count(*) FROM receipt WHERE receipt_id = ?", (paid["payment"]["receiptId"],)
            ).fetchall()
        assert (status, count) == ("paid", 1)
