"""The quadrimestre report, the help-desk tickets, and ``payhub sla``."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zoneinfo
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.orm import Session

from hub.db import make_engine
from hub.migrate import upgrade
from hub.models.sla import SlaBreach, SlaMinute, SlaProbe, SlaTicket
from payhub.cli import main
from sla_monitor import report, tickets
from sla_monitor.report import p99_from_histogram, period_bounds

ROME = zoneinfo.ZoneInfo("Europe/Rome")
ROOT = Path(__file__).resolve().parents[2]
Q2 = period_bounds("2025-Q2")


def test_quadrimestres_are_four_months_of_italian_time():
    start, end = period_bounds("2025-q3")
    assert start == dt.datetime(2025, 9, 1, tzinfo=ROME) and end == dt.datetime(
        2026, 1, 1, tzinfo=ROME
    )
    assert period_bounds("2025-Q2") == (
        dt.datetime(2025, 5, 1, tzinfo=ROME),
        dt.datetime(2025, 9, 1, tzinfo=ROME),
    )
    assert start.utcoffset() == dt.timedelta(0)  # stored as UTC: 31 Aug 22:00Z
    with pytest.raises(ValueError):
        period_bounds("2025-Q4")


def test_p99_is_the_upper_bound_of_its_bucket_capped_at_the_slowest_answer():
    # bounds 25 ms, 50 ms, 100 ms, ...: 990 answers ≤ 25 ms, 10 in (50, 100] ms
    assert p99_from_histogram([990, 0, 10, 0, 0, 0, 0, 0, 0, 0], 0.08) == 0.025
    assert p99_from_histogram([980, 0, 20, 0, 0, 0, 0, 0, 0, 0], 0.08) == 0.08
    assert p99_from_histogram([980, 0, 20, 0, 0, 0, 0, 0, 0, 0], 0.3) == 0.1
    assert p99_from_histogram([0] * 9 + [5], 42.0) == 42.0  # the open bucket: the maximum
    assert p99_from_histogram([0] * 10, 0.0) is None


def minute(
    at: dt.datetime,
    op: str,
    count: int,
    over: int,
    hist: list[int],
    mx: float,
    source: str = "web:1",
) -> SlaMinute:
    return SlaMinute(
        minute=at,
        operation=op,
        source=source,
        count=count,
        over_threshold=over,
        total_seconds=0.05 * count,
        max_seconds=mx,
        histogram=hist,
    )


def fill(session: Session) -> None:
    t = dt.datetime(2025, 6, 10, 9, 0, tzinfo=dt.UTC)
    session.add_all(
        [
            minute(t, "paVerifyPaymentNotice", 600, 0, [600] + [0] * 9, 0.02),
            minute(t, "paVerifyPaymentNotice", 400, 0, [396, 4] + [0] * 8, 0.04, "web:2"),
            minute(t, "paSendRTV2", 100, 3, [90, 0, 0, 0, 0, 0, 7, 3, 0, 0], 3.5),
            # outside the period: not counted
            minute(
                dt.datetime(2025, 9, 1, tzinfo=dt.UTC), "paSendRTV2", 5, 5, [0] * 7 + [5, 0, 0], 4.0
            ),
        ]
    )
    for i in range(100):
        session.add(
            SlaProbe(
                at=t + dt.timedelta(minutes=i),
                target="verify",
                ok=i != 7,
                ms=12.0,
                error=None if i != 7 else "Timeout",
            )
        )
    session.add(
        SlaBreach(
            operation="paSendRTV2",
            window_start=t,
            window_end=t,
            requests=100,
            share=0.9,
            worst_share=0.85,
            opened_at=t,
            closed_at=t + dt.timedelta(minutes=42),
        )
    )
    session.add(
        SlaBreach(
            operation="paVerifyPaymentNotice",
            window_start=t,
            window_end=t,
            requests=50,
            share=0.96,
            worst_share=0.96,
            opened_at=dt.datetime(2025, 8, 31, 21, 0, tzinfo=dt.UTC),
        )
    )
    policy = tickets.TicketPolicy.from_settings({})
    monday = dt.datetime(2025, 6, 9, 9, 0, tzinfo=ROME)
    fast = tickets.open_ticket(session, policy, "receipts missing", "high", monday)
    tickets.resolve(session, fast.id, monday + dt.timedelta(minutes=30))
    slow = tickets.open_ticket(session, policy, "logo", "high", monday)
    tickets.respond(session, slow.id, monday + dt.timedelta(hours=2))
    tickets.open_ticket(session, policy, "question", "low", monday)
    session.flush()


@pytest.mark.pg
def test_the_report_adds_up_processes_probes_breaches_and_tickets(db):
    fill(db)
    built = report.build(db, *Q2, now=dt.datetime(2025, 9, 1, 12, 0, tzinfo=dt.UTC))
    assert built.availability == {"verify": {"ok": 99, "probes": 100, "percent": 99.0}}
    ops = {line.operation: line for line in built.operations}
    verify, send = ops["paVerifyPaymentNotice"], ops["paSendRTV2"]
    assert (verify.requests, verify.within_2s, verify.share_within_2s) == (1000, 1000, 1.0)
    assert verify.p99_seconds == 0.025 and verify.max_seconds == 0.04
    assert (send.requests, send.share_within_2s, send.p99_seconds) == (100, 0.97, 3.5)
    # the open breach runs to the end of the period (31 Aug 22:00Z): one hour
    assert [(b.operation, b.minutes, b.closed_at is None) for b in built.breaches] == [
        ("paSendRTV2", 42.0, False),
        ("paVerifyPaymentNotice", 60.0, True),
    ]
    assert built.tickets == {
        "high": {
            "opened": 2,
            "responded": 2,
            "responded_in_target": 1,
            "resolved": 1,
            "resolved_in_target": 1,
            "open": 1,
        },
        "low": {
            "opened": 1,
            "responded": 0,
            "responded_in_target": 0,
            "resolved": 0,
            "resolved_in_target": 0,
            "open": 1,
        },
    }

    text = report.render(built, "text")
    assert "verify   99.000 %  (99 of 100 ok)" in text and "Breaches: 2" in text
    assert "97.00 % within 2 s  p99 ≤ 3500 ms" in text
    assert json.loads(report.render(built, "json"))["operations"][0]["operation"] == "paSendRTV2"
    rows = list(csv.reader(io.StringIO(report.render(built, "csv"))))
    assert rows[0] == ["section", "item", "metric", "value"]
    assert ["operation", "paSendRTV2", "share_within_2s", "0.97"] in rows
    assert ["availability", "verify", "percent", "99.0"] in rows


def test_a_ticket_clock_runs_in_business_hours_only():
    policy = tickets.TicketPolicy.from_settings({"payhub.sla_ticket_targets": "high:2/18"})
    friday = dt.datetime(2025, 12, 5, 17, 0, tzinfo=ROME)  # Monday 8 Dec is a holiday

    class Sink:
        def add(self, _obj): ...
        def flush(self): ...

    ticket = tickets.open_ticket(Sink(), policy, "s", "high", friday)  # type: ignore[arg-type]
    assert ticket.response_due_at == dt.datetime(2025, 12, 9, 10, 0, tzinfo=ROME)
    # half an hour on Friday, nine on Tuesday, eight and a half on Wednesday
    assert ticket.resolution_due_at == dt.datetime(2025, 12, 10, 17, 0, tzinfo=ROME)
    with pytest.raises(tickets.TicketError):
        tickets.open_ticket(Sink(), policy, "s", "low", friday)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        tickets.TicketPolicy.from_settings({"payhub.sla_ticket_targets": "high:2"})


@pytest.fixture
def sqlite_ini(tmp_path: Path) -> tuple[Path, sa.Engine]:
    url = f"sqlite:///{tmp_path / 'sla.sqlite'}"
    ini = tmp_path / "sla.ini"
    ini.write_text(
        (ROOT / "development.ini").read_text().replace("sqlite:///var/payhub.sqlite", url)
    )
    engine = make_engine(url)
    upgrade(engine)
    yield ini, engine
    engine.dispose()


def test_payhub_sla_report_and_tickets_on_the_embedded_database(sqlite_ini, monkeypatch):
    ini, engine = sqlite_ini
    monkeypatch.delenv("DATABASE_URL", raising=False)
    # the CLI configures logging for the process; left so, later tests' capture_logs miss
    # the loggers it cached
    monkeypatch.setattr("hub.logging.configure_logging", lambda *_args: None)
    with Session(engine) as session, session.begin():
        fill(session)
    runner = CliRunner()

    def run(*args: str):
        result = runner.invoke(main, ["-c", str(ini), "sla", *args])
        return result

    text = run("report", "--period", "2025-Q2")
    assert text.exit_code == 0, text.output
    assert "paSendRTV2" in text.output and "99.000 %" in text.output
    dates = run("report", "--from", "2025-06-10", "--to", "2025-06-10", "--format", "json")
    assert json.loads(dates.output)["availability"]["verify"]["probes"] == 100
    assert run("report", "--from", "2025-06-10", "--format", "csv").exit_code == 2
    assert run("report", "--period", "2025-Q9").exit_code == 2

    opened = run("ticket", "open", "the station is slow", "--priority", "high")
    assert opened.exit_code == 0, opened.output
    ticket_id = opened.output.split("\t")[0]
    assert run("ticket", "respond", ticket_id).exit_code == 0
    assert "\tresolved\t" in run("ticket", "resolve", ticket_id).output
    assert run("ticket", "resolve", "999").exit_code == 1
    assert run("ticket", "open", "x", "--priority", "urgent").exit_code == 1
    listed = run("ticket", "list", "--open").output.splitlines()
    assert len(listed) == 2 and all("\tresolved\t" not in line for line in listed)
    with Session(engine) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(SlaTicket)) == 4
