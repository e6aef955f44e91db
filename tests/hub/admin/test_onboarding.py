"""Bulk onboarding (hub.admin.onboarding): a dry run reports what the load does and writes
nothing; an Ente refused by the database's rules (a segregation code taken on its station) is
reported on its row while the rest of its chunk loads; JSON and CSV read alike; re-running
changes nothing."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from hub.admin import inputs as i
from hub.admin import onboarding
from hub.admin import service as svc
from hub.models import AuditEvent, Ente, PaymentService

pytestmark = [pytest.mark.pg]

BROKER, STATION = "80000000001", "80000000001_01"
IBAN = "IT60X0542811101000000123456"


@pytest.fixture
def station(db):
    svc.create_intermediary(db, svc.CLI, i.IntermediaryInput(broker_code=BROKER, name="I"))
    svc.create_station(db, svc.CLI, i.StationInput(station_code=STATION, broker_code=BROKER))
    return db


def _enti(n: int, *, clash_at: int | None = None) -> list[dict]:
    return [
        {
            "fiscalCode": f"7{k:010d}",
            "name": f"Comune {k}",
            "segregationCode": "00" if k == clash_at else f"{k:02d}",
            "stations": [STATION],
            "iban": IBAN,
            "services": [
                {"code": "TARI", "label": "Tassa rifiuti", "taxonomy": "9/0101101IM/"},
                {"code": "SPONT", "label": "Libero", "taxonomy": "9/0101108TS/",
                 "kind": "spontaneous"},
            ],
        }
        for k in range(n)
    ]  # fmt: skip


def _count(db, model) -> int:
    return db.scalar(sa.select(sa.func.count()).select_from(model))


def test_dry_run_reports_what_the_load_does_and_writes_nothing(station):
    db = station
    entries = onboarding.read_file(json.dumps(_enti(3)).encode(), "json")
    dry = onboarding.onboard(db, svc.CLI, entries, dry_run=True)
    assert _count(db, Ente) == 0 and _count(db, PaymentService) == 0
    load = onboarding.onboard(db, svc.CLI, entries, dry_run=False)
    assert [r.as_dict() for r in dry.rows] == [r.as_dict() for r in load.rows]
    assert load.as_dict()["totals"] == {"created": 9, "updated": 0, "unchanged": 0, "error": 0}
    assert _count(db, Ente) == 3 and _count(db, PaymentService) == 6
    ente = db.scalar(sa.select(Ente).where(Ente.fiscal_code == "70000000001"))
    events = db.scalars(sa.select(AuditEvent.action).where(AuditEvent.ente_id == ente.id)).all()
    assert sorted(events) == [
        "admin.ente.create",
        "admin.iban.add",
        "admin.service.create",
        "admin.service.create",
    ]


def test_an_ente_refused_in_a_chunk_is_reported_and_the_others_load(station):
    db = station
    entries = onboarding.read_file(json.dumps(_enti(5, clash_at=3)).encode(), "json")
    report = onboarding.onboard(db, svc.CLI, entries, dry_run=False)
    [error] = [r for r in report.rows if r.action == "error"]
    assert error.row == 4 and error.fiscal_code == "70000000003"
    assert "segregation code 00" in error.message
    assert _count(db, Ente) == 4


def test_a_changed_file_updates_only_what_changed_and_a_rerun_changes_nothing(station):
    db = station
    onboarding.onboard(
        db, svc.CLI, onboarding.read_file(json.dumps(_enti(2)).encode()), dry_run=False
    )
    changed = _enti(2)
    changed[1]["name"] = "Comune Uno"
    changed[1]["services"][0]["label"] = "TARI 2027"
    entries = onboarding.read_file(json.dumps(changed).encode())
    report = onboarding.onboard(db, svc.CLI, entries, dry_run=False)
    assert [
        (r.fiscal_code, r.service, r.action) for r in report.rows if r.action != "unchanged"
    ] == [
        ("70000000001", None, "updated"),
        ("70000000001", "TARI", "updated"),
    ]
    events = _count(db, AuditEvent)
    again = onboarding.onboard(db, svc.CLI, entries, dry_run=False)
    assert again.count("unchanged") == len(again.rows) and _count(db, AuditEvent) == events


def test_csv_rows_of_one_ente_group_and_errors_name_the_line(station):
    text = (
        "\ufefffiscal_code;name;segregation_code;stations;service_code;service_label;"
        "service_taxonomy;service_kind\n"
        f"70000000009;Comune;09;{STATION};TARI;Tassa;9/0101101IM/;precomputed\n"
        "70000000009;;;;MENSA;Mensa;9/0201109SE/;sometimes\n"
    )
    entries = onboarding.read_file(text.encode(), name="enti.csv")
    assert len(entries) == 1 and entries[0].rows == [2, 3]
    report = onboarding.onboard(station, svc.CLI, entries, dry_run=True)
    [error] = report.rows
    assert error.row == 3 and "services[1].kind" in error.message
    with pytest.raises(onboarding.UnreadableFile):
        onboarding.read_file(b"name;iban\nx;y\n", "csv")
