"""payhub as the benchmark runs it: PostgreSQL, Redis broker, no in-process worker."""

from __future__ import annotations

import os

from payhub.app import make_app

app = make_app(
    {
        "sqlalchemy.url": os.environ["DATABASE_URL"],
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
    }
)
