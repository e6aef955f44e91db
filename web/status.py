"""The public status page (``/status``) and the maintenance banner of the citizen pages
(issue 19).

``/status`` shows, without login, what a citizen or an Ente may know: whether the service
answers now (the probe process's last results), availability over the last 24 hours and the
four months so far, incidents open and recent (titles only), maintenance in progress and
planned. During a planned maintenance window every citizen page (web.checkout, web.level1)
shows a banner saying what is affected and until when; the window is looked up at most every
30 seconds per process.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import sqlalchemy as sa
from pyramid.events import BeforeRender
from pyramid.view import view_config

from hub.db import ROME, utcnow
from hub.models.sla import SlaProbe
from hub.sla import alerts, availability, maintenance, periods
from web.checkout.i18n import localized

CACHE_SECONDS = 30.0
_cache: dict[str, Any] = {"until": 0.0, "window": None}
_lock = threading.Lock()
# the page itself is public: its figures (a scan of the four months' probes) are computed at
# most once per STATUS_SECONDS per process, whoever asks how often
STATUS_SECONDS = 30.0
_status: dict[str, Any] = {"until": 0.0, "values": None}


def includeme(config: Any) -> None:
    config.add_route("status", "/status")
    config.add_subscriber(_banner, BeforeRender)
    config.scan("web.status")


def _banner(event: Any) -> None:
    name = event.get("renderer_name") or ""
    if not name.startswith(("web.checkout:", "web.level1:")):
        return
    event.setdefault("sla_maintenance", current_window(event["request"]))


def current_window(request: Any) -> dict[str, Any] | None:
    """The maintenance window in progress, as plain values (cached ``CACHE_SECONDS``)."""
    now = time.monotonic()
    with _lock:
        if now < _cache["until"]:
            return _cache["window"]
    try:
        window = maintenance.active(request.db, utcnow())
    except Exception:  # the banner never breaks a page
        return None
    value = (
        None
        if window is None
        else {
            "affects": window.affects,
            "ends_at": window.ends_at.astimezone(ROME),
            "starts_at": window.starts_at.astimezone(ROME),
        }
    )
    with _lock:
        _cache.update(until=now + CACHE_SECONDS, window=value)
    return value


def forget_cached_window() -> None:
    """Tests: look the window and the status figures up again at the next page."""
    with _lock:
        _cache.update(until=0.0, window=None)
        _status.update(until=0.0, values=None)


@view_config(
    route_name="status", renderer="web.checkout:templates/status.jinja2", decorator=localized
)
def status(request: Any) -> dict[str, Any]:
    started = time.monotonic()
    with _lock:
        if started < _status["until"]:
            return dict(_status["values"])
    values = _figures(request)
    with _lock:
        _status.update(until=started + STATUS_SECONDS, values=values)
    return dict(values)


def _figures(request: Any) -> dict[str, Any]:
    db = request.db
    now = utcnow()
    settings_slot = request.registry["payhub.config"].sla_probe_seconds or 60.0
    latest = {}
    for target in ("health", "verify"):
        probe = db.scalars(
            sa.select(SlaProbe)
            .where(SlaProbe.target == target)
            .order_by(SlaProbe.at.desc())
            .limit(1)
        ).first()
        if probe is not None:
            latest[target] = probe
    fresh = [p for p in latest.values() if now - p.at <= dt.timedelta(seconds=3 * settings_slot)]
    if not fresh:
        state = "unknown"
    elif all(p.ok for p in fresh):
        state = "up"
    else:
        state = "down"
    start, end = periods.period_bounds(periods.current(now))
    window = maintenance.active(db, now)
    return {
        "state": "maintenance" if window is not None and state != "up" else state,
        "checked_at": max((p.at for p in fresh), default=None),
        "day": availability.measure(
            db, now - dt.timedelta(days=1), now, slot_seconds=settings_slot
        ),
        "period": availability.measure(db, start, end, slot_seconds=settings_slot, now=now),
        "period_name": periods.current(now),
        "incidents": [
            {"title": i.title, "opened_at": i.opened_at, "closed_at": i.closed_at}
            for i in alerts.incidents(db, limit=10)
        ],
        "windows": [
            {
                "starts_at": w.window.starts_at,
                "ends_at": w.window.ends_at,
                "affects": w.window.affects,
            }
            for w in maintenance.windows(db, now, now, upcoming=True)
        ],
        "rome": ROME,
        "now": now,
    }
