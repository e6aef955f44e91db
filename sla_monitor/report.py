"""The quadrimestre report: availability, answers within 2 s and p99, breaches, tickets.

Periods are four months of Italian time: ``2026-Q1`` January–April, ``2026-Q2`` May–August,
``2026-Q3`` September–December (Q for quadrimestre, not quarter); or any dates.

The p99 is read off the per-minute histograms (``HISTOGRAM_BOUNDS``), not from single answers:
the upper bound of the bucket in which the answer of rank ceil(0.99 × n) falls, capped at the
slowest answer seen. It is an upper bound of the true p99, exact to the bucket (e.g. "≤ 100
ms"); the share within 2 s is exact, 2 s being a bucket bound.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import zoneinfo
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.models.sla import HISTOGRAM_BOUNDS, SlaBreach, SlaMinute
from hub.sla.periods import day_start, period_bounds  # noqa: F401  (re-exported, issue 19)
from sla_monitor import probes, tickets

ROME = zoneinfo.ZoneInfo("Europe/Rome")


def p99_from_histogram(histogram: list[int], max_seconds: float) -> float | None:
    """See the module docstring; None without answers."""
    total = sum(histogram)
    if not total:
        return None
    rank = math.ceil(0.99 * total)
    seen = 0
    for bound, count in zip((*HISTOGRAM_BOUNDS, math.inf), histogram, strict=True):
        seen += count
        if seen >= rank:
            return min(bound, max_seconds)
    return max_seconds


@dataclass
class OperationLine:
    operation: str
    requests: int
    within_2s: int
    share_within_2s: float | None
    p99_seconds: float | None
    max_seconds: float
    mean_seconds: float | None


@dataclass
class BreachLine:
    operation: str
    opened_at: str
    closed_at: str | None
    minutes: float  # open breaches: until the end of the period or now, whichever first
    share: float
    worst_share: float


@dataclass
class Report:
    start: str
    end: str
    availability: dict[str, dict[str, Any]] = field(default_factory=dict)
    operations: list[OperationLine] = field(default_factory=list)
    breaches: list[BreachLine] = field(default_factory=list)
    tickets: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def build(
    session: Session, start: dt.datetime, end: dt.datetime, now: dt.datetime | None = None
) -> Report:
    """The report of [start, end) from what the monitor stored."""
    now = now or dt.datetime.now(dt.UTC)
    report = Report(start=start.isoformat(), end=end.isoformat())
    for target, (ok, total) in sorted(probes.availability(session, start, end).items()):
        report.availability[target] = {
            "ok": ok,
            "probes": total,
            "percent": round(100 * ok / total, 3),
        }
    report.operations = _operations(session, start, end)
    report.breaches = _breaches(session, start, end, now)
    report.tickets = tickets.summary(session, start, end)
    return report


def _operations(session: Session, start: dt.datetime, end: dt.datetime) -> list[OperationLine]:
    merged: dict[str, dict[str, Any]] = {}
    rows = session.scalars(
        sa.select(SlaMinute).where(SlaMinute.minute >= start, SlaMinute.minute < end)
    )
    for row in rows:
        m = merged.setdefault(
            row.operation,
            {
                "count": 0,
                "over": 0,
                "total": 0.0,
                "max": 0.0,
                "hist": [0] * (len(HISTOGRAM_BOUNDS) + 1),
            },
        )
        m["count"] += row.count
        m["over"] += row.over_threshold
        m["total"] += row.total_seconds
        m["max"] = max(m["max"], row.max_seconds)
        m["hist"] = [a + b for a, b in zip(m["hist"], row.histogram, strict=True)]
    lines = []
    for op, m in sorted(merged.items()):
        n = m["count"]
        lines.append(
            OperationLine(
                operation=op,
                requests=n,
                within_2s=n - m["over"],
                share_within_2s=round((n - m["over"]) / n, 6) if n else None,
                p99_seconds=p99_from_histogram(m["hist"], m["max"]),
                max_seconds=m["max"],
                mean_seconds=round(m["total"] / n, 6) if n else None,
            )
        )
    return lines


def _breaches(
    session: Session, start: dt.datetime, end: dt.datetime, now: dt.datetime
) -> list[BreachLine]:
    rows = session.scalars(
        sa.select(SlaBreach)
        .where(
            SlaBreach.opened_at < end,
            sa.or_(SlaBreach.closed_at.is_(None), SlaBreach.closed_at >= start),
        )
        .order_by(SlaBreach.opened_at, SlaBreach.id)
    )
    lines = []
    for b in rows:
        until = b.closed_at or min(end, now)
        lines.append(
            BreachLine(
                operation=b.operation,
                opened_at=b.opened_at.isoformat(),
                closed_at=b.closed_at.isoformat() if b.closed_at else None,
                minutes=round(max((until - b.opened_at).total_seconds(), 0) / 60, 1),
                share=round(b.share, 6),
                worst_share=round(b.worst_share, 6),
            )
        )
    return lines


# -- rendering -------------------------------------------------------------------------------
def render(report: Report, fmt: str) -> str:
    """``text``, ``json`` or ``csv`` (long format: section, item, metric, value)."""
    if fmt == "json":
        return json.dumps(report.as_dict(), indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        return _csv(report)
    if fmt == "text":
        return _text(report)
    raise ValueError(f"unknown format {fmt!r}")


def _csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", "item", "metric", "value"])
    writer.writerow(["period", "", "start", report.start])
    writer.writerow(["period", "", "end", report.end])
    for target, values in report.availability.items():
        for metric, value in values.items():
            writer.writerow(["availability", target, metric, value])
    for line in report.operations:
        for metric, value in asdict(line).items():
            if metric != "operation":
                writer.writerow(["operation", line.operation, metric, _cell(value)])
    for i, breach in enumerate(report.breaches, 1):
        for metric, value in asdict(breach).items():
            writer.writerow(["breach", i, metric, _cell(value)])
    for priority, values in report.tickets.items():
        for metric, value in values.items():
            writer.writerow(["tickets", priority, metric, value])
    return out.getvalue()


def _cell(value: Any) -> Any:
    return "" if value is None else value


def _pct(share: float | None) -> str:
    return "n/a" if share is None else f"{100 * share:.2f} %"


def _text(report: Report) -> str:
    lines = [f"SLA report {report.start} – {report.end}", "", "Availability (probes)"]
    if not report.availability:
        lines.append("  no probes in the period")
    for target, v in report.availability.items():
        lines.append(f"  {target:<8} {v['percent']:.3f} %  ({v['ok']} of {v['probes']} ok)")
    lines += ["", "Answers to the Node (98 % within 2 s)"]
    if not report.operations:
        lines.append("  no answers recorded in the period")
    for op in report.operations:
        p99 = "n/a" if op.p99_seconds is None else f"≤ {op.p99_seconds * 1000:.0f} ms"
        lines.append(
            f"  {op.operation:<24} {op.requests:>10} answers  "
            f"{_pct(op.share_within_2s)} within 2 s  p99 {p99}  "
            f"max {op.max_seconds * 1000:.0f} ms"
        )
    lines += ["", f"Breaches: {len(report.breaches)}"]
    for b in report.breaches:
        lines.append(
            f"  {b.operation:<24} {b.opened_at} → {b.closed_at or 'open'}  "
            f"{b.minutes} min  worst {_pct(b.worst_share)}"
        )
    lines += ["", "Help-desk tickets (business hours)"]
    if not report.tickets:
        lines.append("  no tickets opened in the period")
    for priority, t in report.tickets.items():
        lines.append(
            f"  {priority:<8} {t['opened']} opened  "
            f"response in target {t['responded_in_target']}/{t['responded']}  "
            f"resolution in target {t['resolved_in_target']}/{t['resolved']}  "
            f"{t['open']} open"
        )
    return "\n".join(lines) + "\n"
