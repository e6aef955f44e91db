"""The SLA monitor's periodic actors, enqueued by the scheduler (actors.scheduler) by
name (hub.actor_names)."""

from __future__ import annotations

import dramatiq

from actors.middleware import current_factory, current_session, current_settings
from hub import actor_names
from hub.config import Config
from hub.db import utcnow
from sla_monitor import breaches, probes


def _settings() -> Config:
    return current_settings()


@dramatiq.actor(actor_name=actor_names.SLA_EVALUATE_BREACHES, max_retries=0)
def sla_evaluate_breaches() -> None:
    """Open or close response-time breaches for the window that just ended (idempotent: the
    next minute's run judges again; a lost run is not retried)."""
    breaches.evaluate(current_session(), utcnow(), breaches.BreachPolicy.from_settings(_settings()))


@dramatiq.actor(
    actor_name=actor_names.SLA_PROBE_STATION, max_retries=0, unit_of_work=False, time_limit=60_000
)
def sla_probe_station() -> None:
    """Probe the station and /health once; no database transaction is held during the calls.
    A probe is a sample in time: it is never retried, the next tick probes again."""
    probes.run_probes(current_factory(), probes.ProbeConfig.from_settings(_settings()))


# -- the SLA contract (issue 19) -------------------------------------------------------------
@dramatiq.actor(actor_name=actor_names.SLA_SEND_MAIL, max_retries=3, unit_of_work=False)
def sla_send_mail() -> None:
    """Send the monitor's queued e-mails (ticket messages, maintenance notices, alerts); what
    fails stays queued for the next run (the scheduler sweeps every minute)."""
    from hub.sla import mailer

    mailer.deliver_pending(current_factory(), _settings())


@dramatiq.actor(actor_name=actor_names.SLA_EVALUATE_ALERTS, max_retries=0, unit_of_work=False)
def sla_evaluate_alerts() -> None:
    """Open or close alert incidents (e-mail and webhook, once per incident)."""
    from hub.sla import alerts

    alerts.evaluate(current_factory(), _settings(), utcnow())


@dramatiq.actor(actor_name=actor_names.SLA_PRUNE, max_retries=3, unit_of_work=False)
def sla_prune() -> None:
    """Compact probes and per-minute rows older than ``payhub.sla_retention_days`` (one UTC
    day per transaction; idempotent: what is compacted is not read again)."""
    from hub.sla import retention

    retention.prune(current_factory(), utcnow(), _settings().sla_retention_days)
