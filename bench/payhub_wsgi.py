"""payhub as the benchmark runs it: PostgreSQL, Redis broker, no in-process worker."""

from __future__ import annotations

import os

from payhub.app import make_app

SETTINGS = {
    "sqlalchemy.url": os.environ.get("DATABASE_URL", ""),
    "payhub.broker": "redis",
    "payhub.redis_url": os.environ["REDIS_URL"],
    "payhub.embedded_worker": "false",
    "payhub.log_level": "WARNING",
    "payhub.log_format": "json",
    "payhub.db_pre_ping": os.environ.get("PAYHUB_DB_PRE_PING", "true"),
    # the station protected as in production: the allow-list check is part of what is timed
    "payhub.soap_allowed_networks": "127.0.0.0/8",
    "payhub.session_secret": os.environ.get("PAYHUB_SESSION_SECRET", "bench-session-" * 4),
    "payhub.ops_secret": os.environ.get("PAYHUB_OPS_SECRET", "bench-ops-secret-" * 4),
    # as production.ini: a receipt's follow-up message is the scheduler's relay's to send
    # (receipt_bench.py --relay inline: sent by the web process after the commit)
    "payhub.soap_defer_messages": os.environ.get("PAYHUB_SOAP_DEFER_MESSAGES", "true"),
    # no worker consumes the messages here: an hour's lease keeps the sweeper from sending
    # them again while the benchmark runs
    "payhub.outbox_lease_seconds": "3600",
}


def __getattr__(name: str) -> object:
    """``app``, made on first use (the scheduler of receipt_bench.py reads SETTINGS only)."""
    if name == "app":
        globals()["app"] = make_app(SETTINGS)
        return globals()["app"]
    raise AttributeError(name)
