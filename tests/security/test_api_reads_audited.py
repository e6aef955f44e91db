"""Issue 17 item 15: the REST API's reads of personal data (positions, receipts, the receipt
XML) are audit events, like the /ops/ pages that show them: which key, which Ente, what answer,
which object, how many rows; never the data themselves."""

from __future__ import annotations

import sqlalchemy as sa

from hub.models import AuditEvent, Receipt
from hub.seed import DEMO_EC

BASE = f"/api/v1/enti/{DEMO_EC}"
SEED_RECEIPT = "seed-receipt-0001"


def _reads(site) -> list[tuple[str, str, dict]]:
    with site.factory() as session:
        events = session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.action == "api.view_personal_data")
            .order_by(AuditEvent.id)
        )
        return [(e.actor, e.target, e.detail) for e in events]


def test_api_reads_of_personal_data_are_audited(site):
    with site.factory() as session:
        notice = session.scalar(
            sa.select(Receipt.notice_number).where(Receipt.receipt_id == SEED_RECEIPT)
        )
    positions = site.app.get(f"{BASE}/debt-positions", headers=site.api()).json["items"]
    iupd = positions[0]["iupd"]
    site.app.get(f"{BASE}/debt-positions/{iupd}", headers=site.api())
    site.app.get(f"{BASE}/notices/{notice}", headers=site.api())
    site.app.get(f"{BASE}/receipts", headers=site.api())
    site.app.get(f"{BASE}/notices/{notice}/receipts", headers=site.api())
    site.app.get(f"{BASE}/receipts/{SEED_RECEIPT}", headers=site.api())
    site.app.get(f"{BASE}/receipts/{SEED_RECEIPT}/xml", headers=site.api())
    reads = _reads(site)
    assert [(target, detail["view"]) for _, target, detail in reads] == [
        ("positions", "positions"),
        (f"position:{iupd}", "position"),
        (reads[2][1], "position"),
        ("receipts", "receipts"),
        (f"notice:{notice}", "notice_receipts"),
        (f"receipt:{SEED_RECEIPT}", "receipt"),
        (f"receipt:{SEED_RECEIPT}", "receipt_xml"),
    ]
    assert reads[0][2]["rows"] == len(positions)
    assert all(actor.startswith("api_key:") for actor, _, _ in reads)
    assert "RSSMRA" not in repr(reads)  # no fiscal code, name or address in the trail


def test_an_empty_list_and_a_refused_read_are_not_audited(site):
    site.app.get(f"{BASE}/receipts?iuv=99999999999999999", headers=site.api(), status="*")
    site.app.get(f"{BASE}/receipts/nope", headers=site.api(), status=404)
    site.app.get("/api/v1/enti/12345678901/receipts", headers=site.api(), status=404)
    assert _reads(site) == []
