"""The four-month SLA report an intermediary sends to its Enti: the contract's verdicts,
availability per month (and over the year so far), the answer-time distribution, tickets by
severity with their clocks, activation requests, maintenance windows with their notices'
lead, reconciliation anomalies; as data (``build``), as charts drawn on the server
(ReportLab graphics: SVG for the web page, vector drawings in the PDF) and as a PDF
(``pdf``). Every chart has its figures in a table beside it.

The texts are in the reader's language: the web passes a translate function ``_(msgid,
**mapping)`` (its msgids are marked here and extracted into the catalogues, ``${name}`` for
each value) and the anomaly kinds in words; without one the report is in English (``english``).
"""

from __future__ import annotations

import base64
import datetime as dt
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from reportlab.graphics import renderSVG
from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.linecharts import HorizontalLineChart
from reportlab.graphics.shapes import Drawing, Line, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlalchemy.orm import Session

from hub.calendar import BusinessCalendar
from hub.clock import ROME
from hub.models.sla import HISTOGRAM_BOUNDS, SlaMinute, SlaTicket
from hub.printing.markup import paragraph
from hub.sla import anomalies, availability, contract, helpdesk, kpi, maintenance
from hub.sla.availability import Availability
from hub.values import anomaly_details

Translate = Callable[..., str]


def english(message: str, **mapping: Any) -> str:
    """The msgid itself with its ``${name}`` filled: the report in English."""
    return anomaly_details.render(message, {k: str(v) for k, v in mapping.items()})


BLUE = colors.HexColor("#0066cc")
RED = colors.HexColor("#b00020")
GREY = colors.HexColor("#5c6f82")
# a ticket's severity in words (the chart's and the table's labels)
SEVERITIES = {
    "blocking": anomaly_details._("blocking"),
    "non_blocking": anomaly_details._("non-blocking"),
}
BUCKET_LABELS = tuple(
    [f"<={b * 1000:g}ms" if b < 1 else f"<={b:g}s" for b in HISTOGRAM_BOUNDS] + [">10s"]
)


@dataclass
class MonthLine:
    month: str  # YYYY-MM
    availability: Availability


@dataclass
class TicketLine:
    severity: str
    opened: int = 0
    taken_over: int = 0
    taken_over_in_60: int = 0
    resolved: int = 0
    fixed_in_target: int = 0
    open: int = 0
    mean_take_over_minutes: float | None = None
    mean_fix_minutes: float | None = None


@dataclass
class ContractReport:
    title: str
    start: dt.datetime
    end: dt.datetime
    now: dt.datetime
    verdicts: list[contract.Verdict]
    availability: Availability
    year: Availability
    months: list[MonthLine]
    histogram: list[int]
    tickets: list[TicketLine]
    windows: list[maintenance.WindowLine]
    anomalies: anomalies.AnomalyFigure
    kpis: list[kpi.KpiLine] = field(default_factory=list)
    charts: dict[str, Drawing] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "verdicts": [v.as_dict() for v in self.verdicts],
            "availability": self.availability.as_dict(),
            "year": self.year.as_dict(),
            "months": [{"month": m.month, **m.availability.as_dict()} for m in self.months],
            "histogram": dict(zip(BUCKET_LABELS, self.histogram, strict=True)),
            "tickets": [t.__dict__ for t in self.tickets],
            "maintenance": [
                {
                    "starts_at": w.window.starts_at.isoformat(),
                    "ends_at": w.window.ends_at.isoformat(),
                    "affects": w.window.affects,
                    "notices": w.notices,
                    "sent": w.sent,
                    "lead_hours": w.lead_hours,
                    "on_time": w.on_time,
                }
                for w in self.windows
            ],
            "anomalies": {k: v for k, v in self.anomalies.as_dict().items() if k != "old_items"},
            "kpis": [line.__dict__ for line in self.kpis],
        }


def build(
    session: Session,
    calendar: BusinessCalendar,
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
    *,
    title: str = "",
    slot_seconds: float = 60.0,
    anomaly_days: int = 5,
    _: Translate = english,
) -> ContractReport:
    whole = availability.measure(session, start, end, slot_seconds=slot_seconds, now=now)
    year_start = dt.datetime.combine(
        start.astimezone(ROME).date().replace(month=1, day=1), dt.time(0), tzinfo=ROME
    ).astimezone(dt.UTC)
    year = availability.measure(
        session, year_start, min(end, now), slot_seconds=slot_seconds, now=now
    )
    months = [
        MonthLine(m, availability.measure(session, a, b, slot_seconds=slot_seconds, now=now))
        for m, a, b in kpi.month_bounds(start, end)
    ]
    histogram = [0] * (len(HISTOGRAM_BOUNDS) + 1)
    for (row,) in session.execute(
        sa.select(SlaMinute.histogram).where(
            SlaMinute.minute >= start,
            SlaMinute.minute < end,
            SlaMinute.operation.not_in(contract.NOT_COUNTED_OPERATIONS),
        )
    ):
        histogram = [a + b for a, b in zip(histogram, row, strict=True)]
    report = ContractReport(
        title=title
        or f"SLA {start.astimezone(ROME):%d/%m/%Y} – "
        f"{(end - dt.timedelta(seconds=1)).astimezone(ROME):%d/%m/%Y}",
        start=start,
        end=end,
        now=now,
        verdicts=contract.verdicts(session, calendar, start, end, now, avail=whole),
        availability=whole,
        year=year,
        months=months,
        histogram=histogram,
        tickets=_tickets(session, calendar, start, end, now),
        windows=maintenance.windows(session, start, end),
        anomalies=anomalies.measure(session, calendar, now, limit_working_days=anomaly_days),
        kpis=kpi.measure(session, start, end),
    )
    report.charts = charts(report, _)
    return report


def _tickets(
    session: Session, calendar: BusinessCalendar, start: dt.datetime, end: dt.datetime, now: Any
) -> list[TicketLine]:
    lines = {s: TicketLine(s) for s in helpdesk.SEVERITIES}
    takes: dict[str, list[float]] = {s: [] for s in lines}
    fixes: dict[str, list[float]] = {s: [] for s in lines}
    for t in session.scalars(
        sa.select(SlaTicket).where(
            SlaTicket.opened_at >= start,
            SlaTicket.opened_at < end,
            SlaTicket.severity.is_not(None),
        )
    ):
        line = lines[t.severity or "non_blocking"]
        line.opened += 1
        if t.responded_at is not None:
            minutes = helpdesk.take_over_minutes(t, calendar, now)
            line.taken_over += 1
            line.taken_over_in_60 += minutes <= helpdesk.TAKE_OVER_MINUTES
            takes[line.severity].append(minutes)
        if t.resolved_at is not None:
            minutes = helpdesk.fix_minutes(t, calendar, now)
            line.resolved += 1
            line.fixed_in_target += minutes <= helpdesk.FIX_MINUTES[line.severity]
            fixes[line.severity].append(minutes)
        else:
            line.open += 1
    for s, line in lines.items():
        line.mean_take_over_minutes = round(sum(takes[s]) / len(takes[s]), 1) if takes[s] else None
        line.mean_fix_minutes = round(sum(fixes[s]) / len(fixes[s]), 1) if fixes[s] else None
    return list(lines.values())


# -- charts -----------------------------------------------------------------------------------
def _bar(
    values: list[float], labels: list[str], *, title: str, top: float | None = None
) -> tuple[Drawing, VerticalBarChart]:
    drawing = Drawing(170 * mm, 62 * mm)
    chart = VerticalBarChart()
    chart.x, chart.y = 14 * mm, 12 * mm
    chart.width, chart.height = 150 * mm, 42 * mm
    chart.data = [values or [0]]
    chart.categoryAxis.categoryNames = labels or [""]
    chart.categoryAxis.labels.fontSize = 7
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.valueMin = 0
    if top is not None:
        chart.valueAxis.valueMax = top
    chart.bars[0].fillColor = BLUE
    chart.bars[0].strokeColor = None
    drawing.add(chart)
    drawing.add(String(14 * mm, 57 * mm, title, fontSize=9, fillColor=colors.black))
    return drawing, chart


def charts(report: ContractReport, _: Translate = english) -> dict[str, Drawing]:
    result = {}
    # availability per month against the 99.40 % line (the axis from 98 % so the gap shows)
    values = [m.availability.percent or 0.0 for m in report.months]
    low = min([98.0, *[v for v in values if v]]) if values else 98.0
    drawing, chart = _bar(
        [max(v - low, 0) for v in values],
        [m.month for m in report.months],
        title=_("Availability per month, % (from ${low} %; target 99.40 %)", low=f"{low:g}"),
    )
    chart.valueAxis.valueMax = 100 - low
    chart.valueAxis.labelTextFormat = lambda v: f"{v + low:.2f}"
    y = chart.y + chart.height * (availability.TARGET - low) / (100 - low)
    drawing.add(Line(chart.x, y, chart.x + chart.width, y, strokeColor=RED, strokeDashArray=[3, 2]))
    result["availability"] = drawing
    drawing, chart = _bar(
        [float(c) for c in report.histogram],
        list(BUCKET_LABELS),
        title=_("Answers to the Node by answer time (target: 98 % within 2 s)"),
    )
    result["answers"] = drawing
    drawing, chart = _bar(
        [float(t.opened) for t in report.tickets]
        + [float(t.fixed_in_target) for t in report.tickets],
        [_("${severity} opened", severity=_(SEVERITIES[t.severity])) for t in report.tickets]
        + [
            _("${severity} fixed in time", severity=_(SEVERITIES[t.severity]))
            for t in report.tickets
        ],
        title=_("Tickets by severity"),
    )
    result["tickets"] = drawing
    trend = report.anomalies.trend
    drawing = Drawing(170 * mm, 62 * mm)
    line = HorizontalLineChart()
    line.x, line.y, line.width, line.height = 14 * mm, 12 * mm, 150 * mm, 42 * mm
    line.data = [[float(t[3]) for t in trend] or [0.0]]
    line.categoryAxis.categoryNames = [t[0][5:] if i % 5 == 0 else "" for i, t in enumerate(trend)]
    line.categoryAxis.labels.fontSize = 7
    line.valueAxis.labels.fontSize = 7
    line.valueAxis.valueMin = 0
    line.lines[0].strokeColor = BLUE
    drawing.add(line)
    drawing.add(String(14 * mm, 57 * mm, _("Open anomalies at the end of each day"), fontSize=9))
    result["anomalies"] = drawing
    return result


def svg_data_uri(drawing: Drawing) -> str:
    """The chart as an SVG data: URI for an <img> (its figures are in a table beside it)."""
    svg = renderSVG.drawToString(drawing)
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


# -- PDF --------------------------------------------------------------------------------------
def _pct(value: float | None, _: Translate = english) -> str:
    return _("no data") if value is None else f"{value:.2f} %"


def _kpi_value(line: kpi.KpiLine, _: Translate = english) -> str:
    if line.value is None:
        return _("no data")
    return f"{line.value:g}" if line.kpi == "B.3" else f"{line.value:.2f} %"


def pdf(
    report: ContractReport,
    intermediary: str = "",
    *,
    _: Translate = english,
    kinds: Mapping[str, str] | None = None,
) -> bytes:
    """The report as a PDF, its texts through ``_`` and each anomaly kind named by ``kinds``
    (code -> words; a code missing there is printed as it is)."""
    kinds = kinds or {}
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=report.title,
        author=intermediary or "payhub",
    )
    styles = getSampleStyleSheet()
    h1, h2, body = styles["Heading1"], styles["Heading2"], styles["BodyText"]
    grid = TableStyle(
        [
            ("FONTSIZE", (0, 0), (-1, -1), 8),
            ("GRID", (0, 0), (-1, -1), 0.3, GREY),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef5")),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ]
    )

    def table(rows: list[list[Any]], widths: list[float] | None = None) -> Table:
        cells = [[paragraph(c, styles["BodyText"]) for c in row] for row in rows]  # wrapped
        t = Table(cells, colWidths=widths, repeatRows=1)
        t.setStyle(grid)
        return t

    def pct(value: float | None) -> str:
        return _pct(value, _)

    verdict_words = {"met": _("met"), "breached": _("breached")}
    story: list[Any] = [
        paragraph(report.title, h1),
        paragraph(
            f"{intermediary + ' · ' if intermediary else ''}"
            + _(
                "Produced ${moment} (Europe/Rome)",
                moment=f"{report.now.astimezone(ROME):%d/%m/%Y %H:%M}",
            ),
            body,
        ),
        paragraph(_("Service levels: verdicts"), h2),
        table(
            [[_("Figure"), _("Target"), _("Measured"), _("Count"), _("Verdict")]]
            + [
                [
                    _(v.label),
                    f"{v.target_percent:.2f} %",
                    pct(v.measured),
                    "—"
                    if v.count is None
                    else _("${within} of ${count}", within=v.within, count=v.count),
                    verdict_words.get(v.status, _("no data")).upper(),
                ]
                for v in report.verdicts
            ],
            [62 * mm, 20 * mm, 22 * mm, 38 * mm, 28 * mm],
        ),
        Spacer(1, 4 * mm),
        paragraph(_("Availability"), h2),
        paragraph(
            _(
                "Period: ${percent} (${up} of ${counted} slots up; ${down} down, ${unknown} "
                "unknown, ${maintenance} in planned maintenance). Year so far: ${year} "
                "(${year_unknown} slots unknown: no probe recorded). Target 99.40 %.",
                percent=pct(report.availability.percent),
                up=report.availability.up,
                counted=report.availability.counted,
                down=report.availability.down,
                unknown=report.availability.unknown,
                maintenance=report.availability.maintenance,
                year=pct(report.year.percent),
                year_unknown=report.year.unknown,
            ),
            body,
        ),
        report.charts["availability"],
        table(
            [
                [
                    _("Month"),
                    _("Availability"),
                    _("Up"),
                    _("Down"),
                    _("Unknown"),
                    _("Maintenance"),
                ]
            ]
            + [
                [
                    m.month,
                    pct(m.availability.percent),
                    m.availability.up,
                    m.availability.down,
                    m.availability.unknown,
                    m.availability.maintenance,
                ]
                for m in report.months
            ]
        ),
        KeepTogether([paragraph(_("Answer times"), h2), report.charts["answers"]]),
        table(
            [[_("Answer time"), _("Answers")]]
            + [[a, b] for a, b in zip(BUCKET_LABELS, report.histogram, strict=True)]
        ),
        KeepTogether([paragraph(_("Help desk"), h2), report.charts["tickets"]]),
        table(
            [
                [
                    _("Severity"),
                    _("Opened"),
                    _("Taken over within 60 min"),
                    _("Fixed in target"),
                    _("Open"),
                    _("Mean take-over (min)"),
                    _("Mean fix (min)"),
                ]
            ]
            + [
                [
                    _(SEVERITIES[t.severity]),
                    t.opened,
                    _("${within} of ${count}", within=t.taken_over_in_60, count=t.taken_over),
                    _("${within} of ${count}", within=t.fixed_in_target, count=t.resolved),
                    t.open,
                    "—" if t.mean_take_over_minutes is None else t.mean_take_over_minutes,
                    "—" if t.mean_fix_minutes is None else t.mean_fix_minutes,
                ]
                for t in report.tickets
            ],
            # the severity's word ("non-blocking", "nicht blockierend") on one line
            [w * doc.width for w in (0.19, 0.1, 0.15, 0.13, 0.09, 0.17, 0.17)],
        ),
        paragraph(_("Planned maintenance"), h2),
    ]
    if report.windows:
        story.append(
            table(
                [
                    [
                        _("Start"),
                        _("Expected end"),
                        _("Affects"),
                        _("Notices sent"),
                        _("Lead (hours)"),
                        _("At least 3 days ahead"),
                    ]
                ]
                + [
                    [
                        f"{w.window.starts_at.astimezone(ROME):%d/%m/%Y %H:%M}",
                        f"{w.window.ends_at.astimezone(ROME):%d/%m/%Y %H:%M}",
                        w.window.affects,
                        _("${within} of ${count}", within=w.sent, count=w.notices),
                        "—" if w.lead_hours is None else w.lead_hours,
                        _("yes") if w.on_time else _("no"),
                    ]
                    for w in report.windows
                ],
                [26 * mm, 26 * mm, 58 * mm, 20 * mm, 18 * mm, 22 * mm],
            )
        )
    else:
        story.append(paragraph(_("No planned maintenance in the period."), body))
    a = report.anomalies
    story += [
        paragraph(_("Reconciliation anomalies"), h2),
        paragraph(
            _(
                "${open} open, ${old} open for more than ${days} working days.",
                open=a.open,
                old=a.old,
                days=a.limit_working_days,
            ),
            body,
        ),
        report.charts["anomalies"],
        table(
            [[_("Kind"), _("Open")]] + [[kinds.get(k, k), n] for k, n in a.by_kind.items()]
            or [["—", 0]]
        ),
        Spacer(1, 2 * mm),
        table([[_("Age (working days)"), _("Open")]] + [[k, n] for k, n in a.by_age.items()]),
        paragraph(_("pagoPA's KPIs, from our own records"), h2),
        table(
            [
                [
                    "KPI",
                    _("Station"),
                    _("Month"),
                    _("Count"),
                    _("Measured"),
                    _("Target"),
                    _("Verdict"),
                ]
            ]
            + [
                [
                    line.kpi,
                    line.station,
                    line.month,
                    "—" if line.count is None else line.count,
                    _kpi_value(line, _),
                    line.target or "—",
                    {True: _("met"), False: _("breached"), None: _("no data")}[line.met],
                ]
                for line in report.kpis
            ]
        ),
    ]
    doc.build(story)
    return out.getvalue()
