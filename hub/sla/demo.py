"""Demonstration data for the SLA pages (``payhub sla demo-data``; the browser tests and the
screenshots in the docs): probes over the four months so far, with an outage, a gap nobody
recorded and one excused by planned maintenance; answer times per hour; the outcomes pagoPA's
KPIs B.5, B.6 and B.9 judge, per hour and station (one station's receipts failing one month);
help-desk tickets
through their states; maintenance windows noticed early and late; anomalies of several ages;
one alert incident. Deterministic (a seeded random generator). Refuses a database that
already has probes, so it never mixes with real figures.
"""

from __future__ import annotations

import datetime as dt
import random

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.calendar import BusinessCalendar
from hub.models import Anomaly, Ente, Station
from hub.models.sla import HISTOGRAM_BOUNDS, SlaMinute, SlaOutcomeMinute, SlaProbe
from hub.models.sla_contract import SlaAlert, SlaMail
from hub.sla import helpdesk, maintenance, periods

OPERATIONS = ("paVerifyPaymentNotice", "paGetPaymentV2", "paSendRTV2")


class DemoDataError(RuntimeError):
    pass


def fill(
    session: Session,
    calendar: BusinessCalendar,
    now: dt.datetime,
    *,
    slot_seconds: float = 60.0,
    seed: int = 19,
) -> dict[str, int]:
    if session.scalar(sa.select(sa.func.count()).select_from(SlaProbe)):
        raise DemoDataError("the database already has probes: demo data only on a fresh one")
    rng = random.Random(seed)
    start, _end = periods.period_bounds(periods.current(now))
    step = dt.timedelta(seconds=slot_seconds)
    count = int((now - start) / step)
    # an outage of ~40 minutes on day 20, a gap nobody recorded on day 35, an outage inside
    # planned maintenance on day 50
    outage = {
        int(dt.timedelta(days=20, hours=10) / step) + i
        for i in range(int(2400 / slot_seconds) or 1)
    }
    unknown = {
        int(dt.timedelta(days=35, hours=3) / step) + i for i in range(int(1800 / slot_seconds) or 1)
    }
    m_start = start + dt.timedelta(days=50, hours=22)
    excused = {int((m_start - start) / step) + i for i in range(int(3600 / slot_seconds) or 1)}
    rows = []
    for n in range(count):
        if n in unknown:
            continue
        at = start + n * step + dt.timedelta(seconds=2)
        ok = n not in outage and n not in excused
        for target in ("health", "verify"):
            rows.append(
                {
                    "at": at,
                    "target": target,
                    "ok": ok,
                    "ms": round(rng.uniform(8, 60), 2),
                    "error": None if ok else "ConnectionError",
                }
            )
    session.execute(sa.insert(SlaProbe), rows)
    # answer times, one row per hour and operation
    minutes = []
    hour = start
    while hour < now:
        for operation in OPERATIONS:
            n = rng.randint(20, 200)
            hist = [0] * (len(HISTOGRAM_BOUNDS) + 1)
            for _ in range(n):
                seconds = rng.lognormvariate(-2.6, 0.9)
                slot = next(
                    (i for i, b in enumerate(HISTOGRAM_BOUNDS) if seconds <= b),
                    len(HISTOGRAM_BOUNDS),
                )
                hist[slot] += 1
            over = sum(hist[HISTOGRAM_BOUNDS.index(2.0) + 1 :])
            minutes.append(
                {
                    "minute": hour,
                    "operation": operation,
                    "source": "demo",
                    "count": n,
                    "over_threshold": over,
                    "total_seconds": n * 0.09,
                    "max_seconds": 3.2 if over else 1.5,
                    "histogram": hist,
                }
            )
        hour += dt.timedelta(hours=1)
    session.execute(sa.insert(SlaMinute), minutes)
    outcomes = _outcomes(session, rng, start, now)
    # maintenance: the one that excused the outage, noticed 5 days ahead; one noticed late
    windows = 0
    for begin, lead in (
        (m_start, dt.timedelta(days=5)),
        (start + dt.timedelta(days=70, hours=21), dt.timedelta(days=1)),
    ):
        if begin - lead > now:
            continue
        window = maintenance.plan(
            session,
            starts_at=begin,
            ends_at=begin + dt.timedelta(hours=2),
            affects="Pagamenti e avvisi (aggiornamento della piattaforma)",
            ente_codes=[],
            actor="ops:demo",
            now=begin - lead,
        )
        session.flush()
        for mail in session.scalars(sa.select(SlaMail).where(SlaMail.maintenance_id == window.id)):
            mail.sent_at = begin - lead + dt.timedelta(minutes=1)
            mail.attempts = 1
        windows += 1
    # tickets through their states
    tickets = 0
    day = start + dt.timedelta(days=3)
    while day < now - dt.timedelta(days=2):
        severity = "blocking" if rng.random() < 0.35 else "non_blocking"
        opened = day.replace(hour=8 + rng.randint(0, 8), minute=rng.choice((5, 20, 40)))
        ticket = helpdesk.open_ticket(
            session,
            calendar,
            helpdesk.TicketInput(
                subject=rng.choice(
                    (
                        "Ricevuta non arrivata",
                        "Avviso non pagabile",
                        "Flusso di rendicontazione mancante",
                        "Errore nel caricamento massivo",
                    )
                ),
                description="Segnalazione di prova.",
                severity=severity,
                severity_reason="demo",
                reporter_kind=rng.choice(helpdesk.REPORTERS),
                reporter_name="Referente demo",
                reporter_email=None,
            ),
            opened,
            "ops:demo",
        )
        taken = calendar.deadline(opened, dt.timedelta(minutes=rng.choice((10, 25, 40, 55, 90))))
        helpdesk.fire(session, calendar, ticket.id, "take_over", taken, "ops:demo", owner="anna")
        fix = helpdesk.FIX_MINUTES[severity] * rng.choice((0.3, 0.6, 0.9, 1.3))
        resolved = calendar.deadline(taken, dt.timedelta(minutes=fix))
        if resolved < now:
            helpdesk.fire(session, calendar, ticket.id, "resolve", resolved, "ops:demo")
        tickets += 1
        day += dt.timedelta(days=rng.randint(3, 9))
    # anomalies of several ages
    ente = session.scalar(sa.select(Ente).order_by(Ente.id))
    for kind, age in (
        ("flow_without_credit", 1),
        ("flow_without_credit", 9),
        ("double_payment", 3),
        ("standin_receipt", 20),
        ("unknown_notice", 12),
    ):
        session.add(
            Anomaly(
                kind=kind,
                ente_id=ente.id if ente else None,
                detail="demo",
                created_at=now - dt.timedelta(days=age),
            )
        )
    outage_at = start + min(outage) * step
    session.add(
        SlaAlert(
            key="availability",
            title="Station unavailable",
            detail="demo outage",
            opened_at=outage_at,
            closed_at=outage_at + dt.timedelta(seconds=2400),
            webhook_status="HTTP 200",
        )
    )
    session.flush()
    return {
        "probes": len(rows),
        "minutes": len(minutes),
        "outcomes": outcomes,
        "tickets": tickets,
        "windows": windows,
    }


def _outcomes(session: Session, rng: random.Random, start: dt.datetime, now: dt.datetime) -> int:
    """Per hour and station: receipts (mostly OK; the last station's fail more in the second
    month), spontaneous demands and payment options of each Ente (a system error now and then)."""
    stations = list(session.scalars(sa.select(Station.station_code).order_by(Station.station_code)))
    enti = list(session.scalars(sa.select(Ente.fiscal_code).order_by(Ente.fiscal_code)))[:5]
    rows = []
    hour = start
    while hour < now:
        second_month = dt.timedelta(days=31) <= hour - start < dt.timedelta(days=61)
        for station in stations:
            failing = second_month and station == stations[-1]
            answers = rng.randint(5, 40)
            bad = sum(rng.random() < (0.08 if failing else 0.004) for _ in range(answers))
            for operation, outcome, n in (
                ("paSendRTV2", "OK", answers - bad),
                ("paSendRTV2", "PAA_SYSTEM_ERROR", bad),
                ("paDemandPaymentNotice", "OK", rng.randint(0, 6)),
                ("paDemandPaymentNotice", "PAA_SINTASSI_EXTRAXSD", rng.randint(0, 1)),
            ):
                if n:
                    rows.append(_outcome(hour, operation, outcome, n, station=station))
        for ente in enti:
            rows.append(_outcome(hour, "paymentOptions", "OK", rng.randint(1, 9), ente=ente))
            if rng.random() < 0.002:
                rows.append(_outcome(hour, "paymentOptions", "ODP-103", 1, ente=ente))
        hour += dt.timedelta(hours=1)
    if rows:
        session.execute(sa.insert(SlaOutcomeMinute), rows)
    return len(rows)


def _outcome(
    hour: dt.datetime, operation: str, outcome: str, n: int, station: str = "", ente: str = ""
) -> dict[str, object]:
    return {
        "minute": hour,
        "operation": operation,
        "station": station,
        "ente": ente,
        "outcome": outcome,
        "source": "demo",
        "count": n,
    }
