"""Alerts: a breach notifies the platform's operators by e-mail (``payhub.sla_alert_emails``,
through the monitor's mail queue) and a webhook (``payhub.sla_alert_webhook_url``, e.g. a chat;
every URL checked by hub.http), **once per incident**, and once more when it is over (a
recovery notice). An incident is a row of ``sla_alert``, open while its condition holds.

Conditions, judged every minute (actor ``sla_evaluate_alerts``):

- ``availability``: at least 2 of the last 5 finished probe slots down;
- ``response:<operation>``: a response-time breach open (sla_monitor.breaches);
- ``standin``: pagoPA's Stand-In manager probed a station in the last 15 minutes (pagoPA is
  answering for our notices);
- ``anomalies``: ``payhub.sla_alert_anomalies`` or more anomalies open beyond
  ``payhub.sla_anomaly_max_working_days`` working days.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from hub import http
from hub.calendar import BusinessCalendar
from hub.config import Config
from hub.models import StandInProbe
from hub.models.sla import SlaBreach
from hub.models.sla_contract import SlaAlert
from hub.sla import anomalies, availability, mailer
from hub.tenants.stations import SLA_PROBE_STATION_CODE

log = structlog.get_logger(__name__)
STANDIN_RECENT = dt.timedelta(minutes=15)
AVAILABILITY_SLOTS = 5
AVAILABILITY_DOWN = 2


@dataclass(frozen=True)
class Condition:
    key: str
    title: str
    detail: str


def conditions(session: Session, config: Config, now: dt.datetime) -> list[Condition]:
    """The alert conditions that hold at ``now``."""
    found = []
    slot = config.sla_probe_seconds or 60.0
    step = dt.timedelta(seconds=slot)
    end = dt.datetime.fromtimestamp(now.timestamp() // slot * slot, dt.UTC)
    recent = availability.measure(session, end - AVAILABILITY_SLOTS * step, end, slot_seconds=slot)
    if recent.down >= AVAILABILITY_DOWN:
        found.append(
            Condition(
                "availability",
                "Station unavailable",
                f"{recent.down} of the last {AVAILABILITY_SLOTS} probe slots down",
            )
        )
    for breach in session.scalars(sa.select(SlaBreach).where(SlaBreach.closed_at.is_(None))):
        found.append(
            Condition(
                f"response:{breach.operation}"[:80],
                f"Slow answers: {breach.operation}",
                f"{100 * breach.share:.1f} % of answers within 2 s (target 98 %)",
            )
        )
    standin = session.scalars(
        sa.select(StandInProbe).where(
            StandInProbe.last_at >= now - STANDIN_RECENT,
            StandInProbe.station_code != SLA_PROBE_STATION_CODE,
        )
    ).all()
    if standin:
        found.append(
            Condition(
                "standin",
                "Station in Stand-In",
                "pagoPA probed "
                + ", ".join(sorted(p.station_code for p in standin))[:300]
                + " for Stand-In in the last 15 minutes",
            )
        )
    figure = anomalies.measure(
        session,
        BusinessCalendar.from_settings(config),
        now,
        limit_working_days=config.sla_anomaly_max_working_days,
        trend_days=1,
    )
    if config.sla_alert_anomalies and figure.old >= config.sla_alert_anomalies:
        found.append(
            Condition(
                "anomalies",
                "Anomalies piling up",
                f"{figure.old} anomalies open for more than "
                f"{config.sla_anomaly_max_working_days} working days",
            )
        )
    return found


def evaluate(
    factory: Any, config: Config, now: dt.datetime, *, post: Any = http.post
) -> tuple[list[SlaAlert], list[SlaAlert]]:
    """Open an incident for each new condition and close those whose condition is over,
    notifying each once; returns (opened, closed)."""
    with factory() as session, session.begin():
        holding = {c.key: c for c in conditions(session, config, now)}
        open_ = {
            a.key: a
            for a in session.scalars(
                sa.select(SlaAlert).where(SlaAlert.closed_at.is_(None)).with_for_update()
            )
        }
        opened, closed = [], []
        for key, condition in holding.items():
            if key not in open_:
                alert = SlaAlert(
                    key=key, title=condition.title, detail=condition.detail[:500], opened_at=now
                )
                session.add(alert)
                opened.append(alert)
        for key, alert in open_.items():
            if key not in holding:
                alert.closed_at = now
                closed.append(alert)
        session.flush()
        for alert in opened + closed:
            _notify(session, config, alert, post)
    return opened, closed


def _notify(session: Session, config: Config, alert: SlaAlert, post: Any) -> None:
    recovered = alert.closed_at is not None
    word = "RECOVERED" if recovered else "ALERT"
    subject = f"[payhub {word}] {alert.title}"
    text = (
        f"{alert.title}: {alert.detail}\n"
        f"opened {alert.opened_at.isoformat()}"
        + (f", recovered {alert.closed_at.isoformat()}" if alert.closed_at else "")
        + "\n"
    )
    for address in config.sla_alert_emails:
        mailer.queue(session, purpose="alert", recipient=address, subject=subject, body=text)
    url = config.sla_alert_webhook_url
    if not url:
        return
    payload = {
        "text": f"{word}: {alert.title}: {alert.detail}",
        "alert": {
            "key": alert.key,
            "state": "recovered" if recovered else "open",
            "title": alert.title,
            "detail": alert.detail,
            "opened_at": alert.opened_at.isoformat(),
            "closed_at": alert.closed_at.isoformat() if alert.closed_at else None,
        },
    }
    try:
        answer = post(
            url,
            timeout=10,
            policy=http.UrlPolicy.from_settings(config),
            data=json.dumps(payload),
            headers={"Content-Type": "application/json"},
        )
        alert.webhook_status = f"HTTP {answer.status_code}"
        answer.close()
    except Exception as exc:  # a chat that is down must not stop the e-mail
        alert.webhook_status = http.connection_error(exc)[:80]
        log.warning("sla.alert_webhook_failed", key=alert.key, error=alert.webhook_status)


def incidents(session: Session, limit: int = 50) -> list[SlaAlert]:
    """The latest incidents, open first."""
    return list(
        session.scalars(
            sa.select(SlaAlert)
            .order_by(SlaAlert.closed_at.is_not(None), SlaAlert.opened_at.desc())
            .limit(limit)
        )
    )
