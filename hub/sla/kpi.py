"""pagoPA's KPIs for intermediaries (pagopa/pagopa-cruscotto-backend), computed from our own
records before pagoPA computes them, per station and per month (Italian time), where our
records hold the data:

| KPI | what we count | target |
| --- | --- | --- |
| A.1 | answers to the Node slower than 5 s (our side of a timeout), all stations | ≤ 1 % |
| B.2 | answers to the Node within 2 s, all stations (times not kept per station) | ≥ 98 % |
| B.3 | receipts of the station's Enti that came through Stand-In | 0 |
| B.8 | bulk loads of the station's Enti read to the end without a rejected row | ≥ 95 % |

B.5 (spontaneous payments working on every station), B.6 (payment options working on every
station) and B.9 (paSendRT answered OK) need records we do not keep yet (the outcome of each
paSendRT answer; a check per station and service): they are listed as "no data".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.clock import ROME
from hub.models import BulkLoad, BulkLoadStatus, Receipt, Station, station_ente
from hub.models.sla import HISTOGRAM_BOUNDS, SlaMinute

ALL_STATIONS = "all"
NOT_COUNTED = ("standInProbe",)
NO_DATA = (
    ("B.5", "spontaneous payments on every station"),
    ("B.6", "payment options on every station"),
    ("B.9", "paSendRT answered OK (≥ 95 %)"),
)


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
    for kpi, _what in NO_DATA:
        lines.append(KpiLine(kpi, ALL_STATIONS, "—", None, None, "", None))
    return lines
