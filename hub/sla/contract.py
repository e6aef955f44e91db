"""The contract's verdicts: every figure of the service levels, per four months, with its
target, its measured value, how many cases it counts and met / breached.

| figure | target |
| --- | --- |
| availability (probes from outside, maintenance excused) | 99.40 % |
| answers to the Node within 2 s | 98 % |
| tickets taken over within 60 minutes (business time) | 90 % |
| blocking tickets fixed within 240 minutes | 85 % |
| non-blocking tickets fixed within 480 minutes | 85 % |
| activation / change requests done within 15 working days | 90 % |
| maintenance notified at least 3 days ahead | 90 % |

A figure without cases says "no data", never met. The activation requests' figure comes from
``hub.onboarding.sla.four_month_share`` for a four-month period (Jan-Apr, May-Aug, Sep-Dec);
for any other range it is "no data". A provider registered under ``"activation"``
(``register_provider``, ``fn(session, start, end, calendar)`` returning ``(count, within)`` or
None) replaces it (tests).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.calendar import BusinessCalendar
from hub.clock import ROME, day_start
from hub.models.sla import SlaMinute
from hub.onboarding.sla import four_month_share, period_end
from hub.sla import availability, helpdesk, maintenance
from hub.values.anomaly_details import _  # marks the labels for the catalogues (shown translated)

Provider = Callable[[Session, dt.datetime, dt.datetime, BusinessCalendar], "tuple[int, int] | None"]
_PROVIDERS: dict[str, Provider] = {}
# operations that are not the Node's calls about payments (pagoPA's Stand-In probe)
NOT_COUNTED_OPERATIONS = ("standInProbe",)


def register_provider(key: str, provider: Provider) -> None:
    """Let another module supply a figure's (count, within): ``activation`` today."""
    _PROVIDERS[key] = provider


def unregister_provider(key: str) -> None:
    _PROVIDERS.pop(key, None)


@dataclass
class Verdict:
    key: str
    label: str
    target_percent: float
    count: int | None  # None: no data at all (no provider, no probes)
    within: int | None
    unit: str = "cases"
    note: str = ""

    @property
    def measured(self) -> float | None:
        if not self.count or self.within is None:
            return None
        return round(100 * self.within / self.count, 3)

    @property
    def met(self) -> bool | None:
        measured = self.measured
        return None if measured is None else measured >= self.target_percent

    @property
    def status(self) -> str:
        return {True: "met", False: "breached", None: "no data"}[self.met]

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "target_percent": self.target_percent,
            "measured_percent": self.measured,
            "count": self.count,
            "within": self.within,
            "unit": self.unit,
            "status": self.status,
            "note": self.note,
        }


def answers_within(session: Session, start: dt.datetime, end: dt.datetime) -> tuple[int, int]:
    """(answers, answers within 2 s) to the Node in [start, end), every operation but the
    Stand-In probe."""
    row = session.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(SlaMinute.count), 0),
            sa.func.coalesce(sa.func.sum(SlaMinute.over_threshold), 0),
        ).where(
            SlaMinute.minute >= start,
            SlaMinute.minute < end,
            SlaMinute.operation.not_in(NOT_COUNTED_OPERATIONS),
        )
    ).one()
    total, over = int(row[0]), int(row[1])
    return total, total - over


def activation_figure(
    session: Session,
    start: dt.datetime,
    end: dt.datetime,
    calendar: BusinessCalendar,
    now: dt.datetime,
) -> tuple[int, int] | None:
    """(requests counted, within 15 working days) of the four-month period [start, end), from
    the activation requests (hub.onboarding.sla); None for a range that is not such a period."""
    first = start.astimezone(ROME).date()
    if (first.month, first.day) not in {(1, 1), (5, 1), (9, 1)}:
        return None
    if day_start(period_end(first)) != end:
        return None
    share = four_month_share(session, first, calendar=calendar, now=now)
    return (share.counted, share.within_target) if share.counted else None


def verdicts(
    session: Session,
    calendar: BusinessCalendar,
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
    *,
    slot_seconds: float = 60.0,
    avail: availability.Availability | None = None,
) -> list[Verdict]:
    """Every figure of [start, end) as it stands at ``now``."""
    avail = avail or availability.measure(session, start, end, slot_seconds=slot_seconds, now=now)
    result = [
        Verdict(
            "availability",
            _("Availability (probes from outside, maintenance excused)"),
            availability.TARGET,
            avail.counted if avail.up + avail.down else None,
            avail.up if avail.up + avail.down else None,
            unit="slots",
            note=f"{avail.down} down, {avail.unknown} unknown, {avail.maintenance} maintenance",
        )
    ]
    total, within = answers_within(session, start, end)
    result.append(
        Verdict("answers_2s", _("Answers to the Node within 2 s"), 98.0, total, within, "answers")
    )
    tickets = helpdesk.figures(session, calendar, start, end, now)
    for key, label, target in (
        ("take_over", _("Tickets taken over within 60 minutes"), 90.0),
        ("fix_blocking", _("Blocking tickets fixed within 240 minutes"), 85.0),
        ("fix_non_blocking", _("Non-blocking tickets fixed within 480 minutes"), 85.0),
    ):
        count, ok = tickets[key]
        result.append(Verdict(key, label, target, count, ok, "tickets"))
    provider = _PROVIDERS.get("activation")
    if provider is not None:
        activation = provider(session, start, end, calendar)
    else:
        activation = activation_figure(session, start, end, calendar, now)
    result.append(
        Verdict(
            "activation",
            _("Activation and change requests within 15 working days"),
            90.0,
            activation[0] if activation else None,
            activation[1] if activation else None,
            "requests",
            note="" if activation else "only for a four-month period",
        )
    )
    windows, on_time = maintenance.figure(session, start, end)
    result.append(
        Verdict(
            "maintenance_notice",
            _("Maintenance notified at least 3 days ahead"),
            maintenance.TARGET_PERCENT,
            windows,
            on_time,
            "windows",
        )
    )
    return result
