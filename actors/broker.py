"""The Dramatiq broker, chosen in settings: Redis for real deployments, a stub in-process.

Actor modules are imported only after the broker is set (``dramatiq.actor`` binds the broker
that is current at import time); ``setup`` may run again (tests) and moves every actor over.
"""

from __future__ import annotations

import importlib
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from actors.middleware import Settings, UnitOfWork
from hub.config import Config, as_config

ACTOR_MODULES = (
    "actors.payments",
    "actors.periodic",
    "actors.notices",
    "actors.webhooks",
    "actors.expiry",
    "actors.bulk",
    "actors.reporting",
    "actors.activation",  # issue 15: the referente's confirmation link
    "actors.dailyfile",  # issue 18: the daily file
    "actors.gpd",  # GPD-compatible API (issue 20)
    "sla_monitor.actors",
)

# A killed worker's unacked messages go back to the queue once its heartbeat is older than
# this; the default (60 s, checked on 0.1 % of commands) strands them for about 5 minutes.
HEARTBEAT_TIMEOUT_MS = 10_000
MAINTENANCE_CHANCE = 100_000  # out of 1,000,000 commands: 10 %


def make_broker(settings: Config | dict[str, Any]) -> dramatiq.Broker:
    """A RedisBroker for ``payhub.broker = redis``, else a StubBroker."""
    config = as_config(settings)
    middleware = [
        AgeLimit(),
        TimeLimit(),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(),
    ]
    if config.broker == "redis":
        broker: dramatiq.Broker = RedisBroker(
            url=config.redis_url,
            middleware=middleware,
            heartbeat_timeout=config.heartbeat_timeout_ms,
            maintenance_chance=config.maintenance_chance,
            namespace=config.redis_namespace,
            socket_timeout=5,
            socket_connect_timeout=2,
        )
    else:
        broker = StubBroker(middleware=middleware)
        broker.emit_after("process_boot")
    return broker


def worker_metrics_port(settings: Config | dict[str, Any]) -> int | None:
    """``payhub.worker_metrics_port``: where each `payhub worker` serves Dramatiq's own metrics
    (messages, errors, durations per actor); empty (the default) = off."""
    return as_config(settings).worker_metrics_port


def add_worker_metrics(broker: dramatiq.Broker, settings: Config | dict[str, Any]) -> bool:
    """In a worker process (payhub.worker_boot) only: Dramatiq's Prometheus middleware, whose
    exposition process serves every worker process of one `payhub worker` on
    payhub.worker_metrics_host (127.0.0.1):payhub.worker_metrics_port. Web processes and the
    scheduler never boot it (they have no worker)."""
    port = worker_metrics_port(settings)
    if port is None or not isinstance(broker, RedisBroker):
        return False
    import os

    # read by dramatiq.middleware.prometheus at import, here and in its exposition process
    os.environ.setdefault("dramatiq_prom_host", as_config(settings).worker_metrics_host)
    os.environ.setdefault("dramatiq_prom_port", str(port))
    from dramatiq.middleware.prometheus import Prometheus

    broker.add_middleware(Prometheus())
    return True


def setup(settings: Config | dict[str, Any], session_factory: Any) -> dramatiq.Broker:
    """Make the broker current, add the unit-of-work and settings middleware (actors read the
    settings with ``actors.middleware.current_settings()``), declare every actor. ``settings``
    is the process's Config (a dict of settings is validated into one: tests)."""
    config = as_config(settings)
    old = dramatiq.get_broker() if _has_broker() else None
    broker = make_broker(config)
    broker.add_middleware(UnitOfWork(session_factory))
    broker.add_middleware(Settings(config))
    dramatiq.set_broker(broker)
    for name in (*ACTOR_MODULES, *config.extra_actor_modules):
        importlib.import_module(name)
    if old is not None and old is not broker:
        for actor_name in old.get_declared_actors():
            actor = old.get_actor(actor_name)
            actor.broker = broker
            broker.declare_actor(actor)
    return broker


def _has_broker() -> bool:
    return dramatiq.broker.global_broker is not None
