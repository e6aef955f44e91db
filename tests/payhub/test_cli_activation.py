"""`payhub activation open|move|list|show|share|diagram` on a fresh SQLite database."""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.models import Ente, Station
from hub.seed import DEMO_STATION, SECOND_EC
from payhub.cli import main
from tests.payhub.test_cli_operator import _setup


def _run(runner, ini, *args, ok=True):
    result = runner.invoke(main, ["-c", str(ini), "activation", *args])
    assert (result.exit_code == 0) == ok, result.output
    return result


def test_a_request_taken_from_received_to_closed_with_the_cli(tmp_path):
    runner, ini, engine = _setup(tmp_path)
    with Session(engine) as session, session.begin():
        demo = session.scalar(sa.select(Station).where(Station.station_code == DEMO_STATION))
        session.add(
            Station(station_code="77777777777_90", intermediary=demo.intermediary, test=True)
        )

    opened = json.loads(
        _run(runner, ini, "open", SECOND_EC, "--subject", "Attivazione", "--json").output
    )
    assert opened["state"] == "received" and opened["clock"]["targetDays"] == "15.0"
    request_id = str(opened["id"])
    moved = json.loads(_run(runner, ini, "move", request_id, "configure_test", "--json").output)
    assert moved["state"] == "configured_test" and moved["enteInProduction"] is False
    for step in ("confirm_test", "configure_production", "confirm_production", "close"):
        _run(runner, ini, "move", request_id, step, "--note", f"{step} done")
    shown = json.loads(_run(runner, ini, "show", request_id, "--json").output)
    assert shown["state"] == "closed" and shown["enteInProduction"] is True
    assert [s["event"] for s in shown["steps"]] == [
        "open",
        "configure_test",
        "confirm_test",
        "configure_production",
        "confirm_production",
        "close",
    ]
    assert [s["stationCode"] for s in shown["steps"]][1:4:2] == ["77777777777_90", DEMO_STATION]
    assert shown["clock"]["status"] in {"done", "done_late"}
    with Session(engine) as session:
        ente = session.scalar(sa.select(Ente).where(Ente.fiscal_code == SECOND_EC))
        assert sorted(s.station_code for s in ente.stations) == [DEMO_STATION, "77777777777_90"]

    assert _run(runner, ini, "list").output.strip() == "no request"
    assert f"#{request_id}\t{SECOND_EC}" in _run(runner, ini, "list", "--all").output
    refused = _run(runner, ini, "move", request_id, "reopen", ok=False)
    assert "no such step 'reopen'" in refused.output
    assert (
        "no Ente 99999999999"
        in _run(runner, ini, "open", "99999999999", "--subject", "x", ok=False).output
    )


def test_the_share_and_the_diagram(tmp_path):
    runner, ini, _engine = _setup(tmp_path)
    share = json.loads(_run(runner, ini, "share", "--start", "2026-09-01", "--json").output)
    assert share == {
        "start": "2026-09-01",
        "end": "2027-01-01",
        "served": 0,
        "withinTarget": 0,
        "openLate": 0,
        "share": None,
        "lateRequestIds": [],
    }
    assert (
        "1 January, 1 May or 1 September"
        in _run(runner, ini, "share", "--start", "2026-10-01", ok=False).output
    )
    assert _run(runner, ini, "diagram").output.startswith("stateDiagram-v2")
