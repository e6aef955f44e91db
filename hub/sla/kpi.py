"""pagoPA's KPIs for intermediaries (pagopa/pagopa-cruscotto-backend), computed from our own
records before pagoPA computes them, per station and per month (Italian time), where our
records hold the data:

| KPI | what we count | target |
| --- | --- | --- |
| A.1 | answers to the Node slower than 5 s (our side of a timeout), all stations | ≤ 1 % |
| B.2 | answers to the Node within 2 s, all stations (times not kept per station) | ≥ 98 % |
| B.3 | receipts of the station's Enti that came through Stand-In | 0 |
| B.5 | paDemandPaymentNotice answered without a system error, per station | ≥ 99 % |
| B.6 | payment options (web.odp) answered without a system error, per station | ≥ 99 % |
| B.8 | bulk loads of the station's Enti read to the end without a rejected row | ≥ 95 % |
| B.9 | paSendRT/paSendRTV2 answered OK, per station and all stations | ≥ 95 % |

B.5, B.6 and B.9 read ``sla_outcome`` (the outcome of every answer, counted per minute by
sla_monitor.recorder). pagoPA reads B.5 and B.6 off its registry (is the service enabled on
each station) and judges the share of stations without it; we cannot see its registry, so we
judge what the station did: a station is working in a month when it answered at least once
and ≥ 99 % of its answers were not a system error (``PAA_SYSTEM_ERROR``, ``ODP-103``). A
station expected to offer the service (B.5: an Ente of it has an active spontaneous service;
B.6: it serves an Ente) with no answer in a month is "no data", never met. The ``all`` line is
the share of expected stations working (pagoPA wants every one). As pagoPA does for B.9 (and
we do for B.5/B.6), answers in a minute of a planned maintenance window are counted but not
held against the station.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.clock import ROME
from hub.db import utcnow
from hub.models import (
    BulkLoad,
    BulkLoadStatus,
    Ente,
    PaymentService,
    Receipt,
    Station,
    station_ente,
)
from hub.models.sla import HISTOGRAM_BOUNDS, SlaMinute, SlaOutcomeMinute
from hub.models.tenants import ServiceKind
from hub.sla.availability import maintenance_windows
from hub.sla.retention import EXCUSED, PRUNED

ALL_STATIONS = "all"
NOT_COUNTED = ("standInProbe",)
RECEIPT_OPERATIONS = ("paSendRT", "paSendRTV2")
DEMAND_OPERATION = "paDemandPaymentNotice"
OPTIONS_OPERATION = "paymentOptions"  # web.odp.OPERATION
SYSTEM_ERRORS = frozenset({"PAA_SYSTEM_ERROR", "ODP-103"})
WORKING_SHARE = 99.0  # percent of a station's answers without a system error (B.5, B.6)
RECEIPTS_OK_SHARE = 95.0  # B.9


@dataclass
class KpiLine:
    kpi: str
    station: str
    month: str
    count: int | None
    value: float | None  # percent, or a count for B.3
    target: str
    met: bool | None


def _month(moment: dt.datetime) -> str:
    return f"{moment.astimezone(ROME):%Y-%m}"


def measure(session: Session, start: dt.datetime, end: dt.datetime) -> list[KpiLine]:
    lines: list[KpiLine] = []
    # A.1 and B.2 from the answer times, per month
    over_5 = HISTOGRAM_BOUNDS.index(5.0) + 1
    per_month: dict[str, list[int]] = {}
    for minute, count, over, hist in session.execute(
        sa.select(
            SlaMinute.minute, SlaMinute.count, SlaMinute.over_threshold, SlaMinute.histogram
        ).where(
            SlaMinute.minute >= start,
            SlaMinute.minute < end,
            SlaMinute.operation.not_in(NOT_COUNTED),
        )
    ):
        acc = per_month.setdefault(_month(minute), [0, 0, 0])
        acc[0] += count
        acc[1] += over
        acc[2] += sum(hist[over_5:])
    for month, (total, over, slow) in sorted(per_month.items()):
        a1 = round(100 * slow / total, 3) if total else None
        b2 = round(100 * (total - over) / total, 3) if total else None
        lines.append(
            KpiLine("A.1", ALL_STATIONS, month, total, a1, "≤ 1 %", None if a1 is None else a1 <= 1)
        )
        lines.append(
            KpiLine(
                "B.2", ALL_STATIONS, month, total, b2, "≥ 98 %", None if b2 is None else b2 >= 98
            )
        )
    stations = list(session.scalars(sa.select(Station).order_by(Station.station_code)))
    for station in stations:
        enti = sa.select(station_ente.c.ente_id).where(station_ente.c.station_id == station.id)
        receipts: dict[str, list[int]] = {}
        for at, standin in session.execute(
            sa.select(Receipt.received_at, Receipt.standin).where(
                Receipt.ente_id.in_(enti), Receipt.received_at >= start, Receipt.received_at < end
            )
        ):
            acc = receipts.setdefault(_month(at), [0, 0])
            acc[0] += 1
            acc[1] += bool(standin)
        for month, (total, via_standin) in sorted(receipts.items()):
            lines.append(
                KpiLine(
                    "B.3",
                    station.station_code,
                    month,
                    total,
                    float(via_standin),
                    "0",
                    via_standin == 0,
                )
            )
        loads: dict[str, list[int]] = {}
        for at, status, failed in session.execute(
            sa.select(BulkLoad.created_at, BulkLoad.status, BulkLoad.rows_failed).where(
                BulkLoad.ente_id.in_(enti), BulkLoad.created_at >= start, BulkLoad.created_at < end
            )
        ):
            if status not in (BulkLoadStatus.DONE, BulkLoadStatus.FAILED):
                continue  # still running: judged when it ends
            acc = loads.setdefault(_month(at), [0, 0])
            acc[0] += 1
            acc[1] += status == BulkLoadStatus.DONE and not failed
        for month, (total, valid) in sorted(loads.items()):
            share = round(100 * valid / total, 3)
            lines.append(
                KpiLine("B.8", station.station_code, month, total, share, "≥ 95 %", share >= 95)
            )
    lines.extend(_outcome_kpis(session, start, end, stations))
    order = {k: n for n, k in enumerate(("A.1", "B.2", "B.3", "B.5", "B.6", "B.8", "B.9"))}
    lines.sort(key=lambda x: (order.get(x.kpi, 99), x.station != ALL_STATIONS, x.station))
    return lines


def months(start: dt.datetime, end: dt.datetime) -> list[str]:
    """The Italian months [start, end) touches, up to now (``YYYY-MM``)."""
    until = min(end, utcnow())
    if until <= start:
        return []
    first, last = start.astimezone(ROME), (until - dt.timedelta(microseconds=1)).astimezone(ROME)
    out, (y, m) = [], (first.year, first.month)
    while (y, m) <= (last.year, last.month):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _outcome_kpis(
    session: Session, start: dt.datetime, end: dt.datetime, stations: list[Station]
) -> list[KpiLine]:
    """B.5, B.6 and B.9 from ``sla_outcome``."""
    # per Ente fiscal code, the stations serving it (payment options are asked per Ente)
    served: dict[str, set[str]] = {}
    for code, fiscal in session.execute(
        sa.select(Station.station_code, Ente.fiscal_code)
        .join(station_ente, station_ente.c.station_id == Station.id)
        .join(Ente, Ente.id == station_ente.c.ente_id)
    ):
        served.setdefault(fiscal, set()).add(code)
    # (kpi, station, month) -> [answers, held against the station]
    acc: dict[tuple[str, str, str], list[int]] = {}
    for (month, operation, station, ente, outcome), (n, excused) in _outcome_counts(
        session, start, end
    ).items():
        if operation in RECEIPT_OPERATIONS:
            kpi, codes = "B.9", {station}
            bad = outcome != "OK" and not outcome.startswith(EXCUSED)
        elif operation == DEMAND_OPERATION:
            kpi, bad, codes = "B.5", outcome in SYSTEM_ERRORS, {station}
        elif operation == OPTIONS_OPERATION:
            kpi, bad, codes = "B.6", outcome in SYSTEM_ERRORS, served.get(ente, set())
        else:
            continue
        held = n - excused if bad else 0
        for code in codes:
            for key in ((kpi, code, month), (kpi, ALL_STATIONS, month)):
                if kpi != "B.9" and key[1] == ALL_STATIONS:
                    continue  # B.5/B.6's all line counts stations, below
                row = acc.setdefault(key, [0, 0])
                row[0] += n
                row[1] += held
    lines = [
        _share_line(kpi, station, month, total, held, RECEIPTS_OK_SHARE)
        for (kpi, station, month), (total, held) in acc.items()
        if kpi == "B.9"
    ]
    lines.extend(
        _share_line("B.9", ALL_STATIONS, month, 0, 0, RECEIPTS_OK_SHARE)
        for month in months(start, end)
        if ("B.9", ALL_STATIONS, month) not in acc
    )
    spontaneous = set(
        session.scalars(
            sa.select(Station.station_code)
            .join(station_ente, station_ente.c.station_id == Station.id)
            .join(PaymentService, PaymentService.ente_id == station_ente.c.ente_id)
            .where(PaymentService.kind == ServiceKind.SPONTANEOUS, PaymentService.active)
        )
    )
    expected = {
        "B.5": spontaneous,
        "B.6": {code for codes in served.values() for code in codes},
    }
    for kpi in ("B.5", "B.6"):
        codes = expected[kpi] | {s for k, s, _m in acc if k == kpi}
        for month in sorted(set(months(start, end)) | {m for k, _s, m in acc if k == kpi}):
            per_station = []
            for code in sorted(codes):
                total, held = acc.get((kpi, code, month), (0, 0))
                per_station.append(_share_line(kpi, code, month, total, held, WORKING_SHARE))
            lines.extend(per_station)
            judged = [x for x in per_station if x.station in expected[kpi]]
            working = sum(1 for x in judged if x.met)
            seen = any(x.met is not None for x in judged)
            share = round(100 * working / len(judged), 3) if seen else None
            lines.append(
                KpiLine(
                    kpi,
                    ALL_STATIONS,
                    month,
                    len(judged),
                    share,
                    "100 %",
                    None if share is None else share == 100,
                )
            )
    return lines


OutcomeCounts = dict[tuple[str, str, str, str, str], list[int]]


def _outcome_counts(session: Session, start: dt.datetime, end: dt.datetime) -> OutcomeCounts:
    """(month, operation, station, ente, outcome) -> [answers, answers excused by a planned
    maintenance], summed by the database per month. Pruned rows (hub.sla.retention) carry
    their excuse in the outcome already."""
    columns = (
        SlaOutcomeMinute.operation,
        SlaOutcomeMinute.station,
        SlaOutcomeMinute.ente,
        SlaOutcomeMinute.outcome,
    )
    total = sa.func.sum(SlaOutcomeMinute.count)
    windows = _minute_windows(session, start, end)
    counts: OutcomeCounts = {}
    for month, a, b in month_bounds(start, end):
        for operation, station, ente, outcome, n in session.execute(
            sa.select(*columns, total)
            .where(SlaOutcomeMinute.minute >= a, SlaOutcomeMinute.minute < b)
            .group_by(*columns)
        ):
            counts[(month, operation, station, ente, outcome)] = [int(n), 0]
        for w0, w1 in windows:
            lo, hi = max(a, w0), min(b, w1)
            if lo >= hi:
                continue
            for operation, station, ente, outcome, n in session.execute(
                sa.select(*columns, total)
                .where(
                    SlaOutcomeMinute.minute >= lo,
                    SlaOutcomeMinute.minute < hi,
                    SlaOutcomeMinute.outcome != "OK",
                    SlaOutcomeMinute.source != PRUNED,
                )
                .group_by(*columns)
            ):
                counts[(month, operation, station, ente, outcome)][1] += int(n)
    return counts


def _minute_windows(
    session: Session, start: dt.datetime, end: dt.datetime
) -> list[tuple[dt.datetime, dt.datetime]]:
    """Planned maintenance as ranges of whole minutes (a minute it touches is excused),
    overlapping ones merged so that no answer is excused twice."""
    merged: list[tuple[dt.datetime, dt.datetime]] = []
    for a, b in sorted(maintenance_windows(session, start, end)):
        a = a.astimezone(dt.UTC).replace(second=0, microsecond=0)
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def month_bounds(
    start: dt.datetime, end: dt.datetime
) -> list[tuple[str, dt.datetime, dt.datetime]]:
    """The Italian months [start, end) touches, each cut to [start, end)."""
    out: list[tuple[str, dt.datetime, dt.datetime]] = []
    first = start.astimezone(ROME).date().replace(day=1)
    while True:
        nxt = (first + dt.timedelta(days=32)).replace(day=1)
        a = dt.datetime.combine(first, dt.time(0), tzinfo=ROME).astimezone(dt.UTC)
        b = dt.datetime.combine(nxt, dt.time(0), tzinfo=ROME).astimezone(dt.UTC)
        if a >= end:
            return out
        out.append((f"{first:%Y-%m}", max(a, start), min(b, end)))
        first = nxt


def _share_line(
    kpi: str, station: str, month: str, total: int, held: int, target: float
) -> KpiLine:
    """The share of ``total`` answers not held against the station; no answers: no data."""
    if not total:
        return KpiLine(kpi, station, month, 0, None, f"≥ {target:g} %", None)
    share = round(100 * (total - held) / total, 3)
    return KpiLine(kpi, station, month, total, share, f"≥ {target:g} %", share >= target)
