"""``/health``: does the database answer, does the broker answer."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from pyramid.view import view_config


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


@view_config(route_name="health", renderer="json", request_method="GET")
def health(request: Any) -> dict[str, Any]:
    db = check_database(request.registry["db.engine"])
    broker = check_broker(request.registry["dramatiq.broker"])
    ok = db["ok"] and broker["ok"]
    request.response.status_int = 200 if ok else 503
    return {"status": "ok" if ok else "unavailable", "database": db, "broker": broker}
