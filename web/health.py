"""``/health``: does the database answer, does the broker answer, is the outbox draining.

503 ``unavailable`` when the database or the broker does not answer; 200 ``degraded`` when both
answer but the outbox backlog is larger than ``payhub.health_outbox_max_backlog`` (default
1000) or its oldest message older than ``payhub.health_outbox_max_age_seconds`` (default 300):
work is piling up (workers down or too few) although nothing is lost yet. Load balancers keep
a degraded process in rotation; monitoring alerts on it.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from pyramid.view import view_config

from hub import metrics
from hub.config import Config, from_registry
from hub.db import utcnow


def check_database(engine: sa.Engine) -> dict[str, Any]:
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return {"ok": True, "backend": engine.dialect.name}
    except Exception as exc:
        return {"ok": False, "backend": engine.dialect.name, "error": type(exc).__name__}


def check_broker(broker: Any) -> dict[str, Any]:
    client = getattr(broker, "client", None)
    if client is None:  # StubBroker: in-process, answers as long as we do
        return {"ok": True, "backend": "stub"}
    try:
        client.ping()
        return {"ok": True, "backend": "redis"}
    except Exception as exc:
        return {"ok": False, "backend": "redis", "error": type(exc).__name__}


def check_backlog(session_factory: Any, settings: Config | dict[str, Any]) -> dict[str, Any]:
    """The outbox backlog against its thresholds: ``ok`` is False when it is too large or
    too old."""
    try:
        with session_factory() as session:
            count, oldest = metrics.outbox_backlog(session, utcnow())
            session.rollback()
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}
    reasons = metrics.backlog_problems(count, oldest, settings)
    return {
        "ok": not reasons,
        "outbox": count,
        "oldest_age_seconds": oldest,
        **({"reasons": reasons} if reasons else {}),
    }


@view_config(route_name="health", renderer="json", request_method="GET")
def health(request: Any) -> dict[str, Any]:
    db = check_database(request.registry["db.engine"])
    broker = check_broker(request.registry["dramatiq.broker"])
    ok = db["ok"] and broker["ok"]
    request.response.status_int = 200 if ok else 503
    body = {"status": "ok" if ok else "unavailable", "database": db, "broker": broker}
    if db["ok"]:
        backlog = check_backlog(
            request.registry["db.session_factory"], from_registry(request.registry)
        )
        body["backlog"] = backlog
        if ok and not backlog["ok"]:
            body["status"] = "degraded"
    return body
