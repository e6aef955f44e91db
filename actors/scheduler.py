"""The one scheduler: periodic jobs for the whole deployment (run exactly one of it).

Beside the jobs, a thread of its own (``start_relay``) sends the outbox messages never sent
(those the station's receipts leave to it with ``payhub.soap_defer_messages``) every
``payhub.outbox_relay_seconds``. The outbox sweeper is its first job: it sends every outbox
message not processed yet whose relay failed or whose lease ended (Redis lost it, a worker
died). The second sends the webhook
deliveries whose due time has come; the third deletes finished outbox rows and processed-message
records past their retention. Other jobs only enqueue an actor, so the work itself runs
on the workers.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import dramatiq
import structlog
from apscheduler.schedulers.base import BaseScheduler

from actors import expiry, outbox, periodic
from hub import actor_names
from hub.config import Config, as_config

log = structlog.get_logger(__name__)


# every job: a tick missed while the previous run goes on is run once, never two at a time
COMMON: dict[str, Any] = {"coalesce": True, "max_instances": 1}


# an actor's name -> the job that enqueues it (logs, never raises, when the broker refuses)
Enqueue = Callable[[str], Callable[[], None]]


def _enqueuer(broker: dramatiq.Broker) -> Enqueue:
    def enqueue(actor_name: str) -> Callable[[], None]:
        def job() -> None:
            try:
                broker.get_actor(actor_name).send()
            except Exception:
                log.exception("scheduler.enqueue_failed", actor_name=actor_name)

        return job

    return enqueue


def _every(scheduler: BaseScheduler, enqueue: Enqueue, actor_name: str, **interval: float) -> None:
    """Enqueue ``actor_name`` every ``seconds=`` / ``minutes=`` (job id: the actor's name)."""
    scheduler.add_job(enqueue(actor_name), "interval", id=actor_name, **interval, **COMMON)


def _daily(
    scheduler: BaseScheduler,
    enqueue: Enqueue,
    actor_name: str,
    hour: int,
    minute: int,
    timezone: Any = dt.UTC,
) -> None:
    """Enqueue ``actor_name`` every day at ``hour:minute`` of ``timezone`` (job id: the
    actor's name)."""
    scheduler.add_job(
        enqueue(actor_name),
        "cron",
        hour=hour,
        minute=minute,
        timezone=timezone,
        id=actor_name,
        **COMMON,
    )


def start_relay(
    broker: dramatiq.Broker, factory: Any, settings: Config | dict[str, Any]
) -> threading.Event | None:
    """Start the relay loop (``actors.outbox.run_relay``) in a daemon thread, every
    ``payhub.outbox_relay_seconds`` (0: none, None returned); returns the event that stops it.
    A process that dies mid-batch leaves its rows unsent, for the next loop."""
    every = as_config(settings).outbox_relay_seconds
    if every <= 0:
        return None
    stop = threading.Event()
    threading.Thread(
        target=outbox.run_relay,
        args=(broker, factory),
        kwargs={"every": every, "stop": stop},
        name="outbox-relay",
        daemon=True,
    ).start()
    return stop


def add_jobs(
    scheduler: BaseScheduler,
    broker: dramatiq.Broker,
    factory: Any,
    settings: Config | dict[str, Any],
    *,
    relay: bool = False,
) -> BaseScheduler:
    """The scheduler's jobs. ``relay``: the relay loop runs beside them (``start_relay``), and
    the messages never sent are its to send, not the sweeper's."""
    config = as_config(settings)
    every = config.outbox_sweep_seconds
    grace = dt.timedelta(seconds=config.outbox_sweep_grace_seconds)
    unsent = not relay

    def sweep() -> None:
        try:
            outbox.sweep(broker, factory, grace=grace, unsent=unsent)
        except Exception:  # a failed sweep is retried at the next tick
            log.exception("outbox.sweep_failed")

    def sweep_deliveries() -> None:
        from actors import webhooks  # an actor module: imported once the broker is set up

        try:
            webhooks.sweep_due(broker, factory, lease=outbox.Policy.of(broker).lease)
        except Exception:  # a failed sweep is retried at the next tick
            log.exception("webhooks.sweep_failed")

    retention = config.outbox_retention_days

    def purge() -> None:
        try:
            outbox.purge(factory, days=retention)
        except Exception:  # retried at the next tick
            log.exception("outbox.purge_failed")

    enqueue = _enqueuer(broker)
    scheduler.add_job(sweep, "interval", seconds=every, id="outbox_sweep", **COMMON)
    scheduler.add_job(
        sweep_deliveries,
        "interval",
        seconds=config.webhook_sweep_seconds,
        id="webhook_sweep",
        **COMMON,
    )
    # finished outbox rows and processed-message records past payhub.outbox_retention_days
    scheduler.add_job(purge, "interval", minutes=60, id="outbox_retention", **COMMON)

    # issue 21: the dashboard counters' delta rows folded into one per key (hub.counters)
    def compact_counters() -> None:
        from hub import counters

        try:
            with factory.begin() as session:
                counters.compact(session)
        except Exception:  # retried at the next tick
            log.exception("counters.compact_failed")

    scheduler.add_job(compact_counters, "interval", minutes=10, id="counters_compact", **COMMON)
    _every(scheduler, enqueue, periodic.ACTOR, seconds=60)
    # options past their retention date: daily just after midnight (UTC, as the state
    # machine's guard judges dates), and once at startup to catch up after downtime
    _daily(scheduler, enqueue, expiry.ACTOR, hour=0, minute=5)
    scheduler.add_job(enqueue(expiry.ACTOR), "date", id=f"{expiry.ACTOR}_at_start", **COMMON)
    add_reporting_jobs(scheduler, enqueue, config)
    add_sla_jobs(scheduler, enqueue, config)
    add_daily_file_jobs(scheduler, broker, factory, enqueue, config)  # issue 18
    # GPD-compatible API (issue 20): positions whose validity date has come become payable
    _every(scheduler, enqueue, actor_names.PUBLISH_DUE_GPD_POSITIONS, seconds=60)
    if config.aca_url or config.aca_client_factory:  # ACA feed (issue 20)
        _every(scheduler, enqueue, actor_names.ACA_SWEEP, seconds=config.aca_sync_seconds)
    return scheduler


def add_reporting_jobs(scheduler: BaseScheduler, enqueue: Enqueue, config: Config) -> None:
    """Poll the Node's reporting flows every ``payhub.reporting_poll_minutes`` (60; 0 = never)
    when a Node is configured, and check flows without a bank credit daily at 06:00 UTC."""
    minutes = config.reporting_poll_minutes
    node_known = bool(config.node_url or config.node_client_factory)
    if config.reporting_source == "fdr3":
        node_known = True  # FdR 3: pagoPA's URL by default
    if minutes > 0 and node_known:
        _every(scheduler, enqueue, actor_names.POLL_REPORTING_FLOWS, minutes=minutes)
    # receipts lost upstream, asked of pagoPA's receipts service (hub.reconciliation.recovery)
    recovery_minutes = config.recovery_minutes
    if recovery_minutes > 0 and node_known:
        _every(scheduler, enqueue, actor_names.RECOVER_RECEIPTS, minutes=recovery_minutes)
    _daily(scheduler, enqueue, actor_names.CHECK_FLOWS_WITHOUT_CREDIT, hour=6, minute=0)


def add_sla_jobs(scheduler: BaseScheduler, enqueue: Enqueue, config: Config) -> None:
    """Judge response-time breaches every minute; probe the station every
    ``payhub.sla_probe_seconds`` (60; 0 = never) when a probe target is configured; compact
    SLA rows past ``payhub.sla_retention_days`` daily."""
    _every(scheduler, enqueue, actor_names.SLA_EVALUATE_BREACHES, seconds=60)
    # the SLA contract (issue 19): its mail queue swept, alerts judged, every minute
    for name in (actor_names.SLA_SEND_MAIL, actor_names.SLA_EVALUATE_ALERTS):
        _every(scheduler, enqueue, name, seconds=60)
    if config.sla_retention_days > 0:  # compaction of old probes and minutes, once a day
        _daily(scheduler, enqueue, actor_names.SLA_PRUNE, hour=3, minute=40)
    seconds = config.sla_probe_seconds
    target = config.sla_probe_health_url or (
        config.sla_probe_notice and (config.sla_probe_url or config.soap_public_url)
    )
    if seconds > 0 and target:
        _every(scheduler, enqueue, actor_names.SLA_PROBE_STATION, seconds=seconds)


def add_daily_file_jobs(
    scheduler: BaseScheduler,
    broker: dramatiq.Broker,
    factory: Any,
    enqueue: Enqueue,
    config: Config,
) -> None:
    """Issue 18: build yesterday's daily files at ``payhub.daily_file_at`` (Europe/Rome), and
    send the deliveries due every ``payhub.daily_file_sweep_seconds``."""
    hour, _, minute = config.daily_file_at.partition(":")
    _daily(
        scheduler,
        enqueue,
        actor_names.BUILD_DAILY_FILES,
        int(hour),
        int(minute),
        timezone="Europe/Rome",
    )

    def sweep_daily_files() -> None:
        from actors import dailyfile  # an actor module: imported once the broker is set up

        try:
            lease = dailyfile.retry_policy(config).lease
            dailyfile.sweep_due(broker, factory, lease=lease)
        except Exception:  # retried at the next tick
            log.exception("daily_file.sweep_failed")

    scheduler.add_job(
        sweep_daily_files,
        "interval",
        seconds=config.daily_file_sweep_seconds,
        id="daily_file_sweep",
        **COMMON,
    )
