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

from actors.middleware import UnitOfWork
from hub.settings import as_bool

ACTOR_MODULES = (
    "actors.payments",
    "actors.periodic",
    "actors.notices",
    "actors.webhooks",
    "actors.expiry",
    "actors.bulk",
    "actors.reporting",
    "sla_monitor.actors",
)

# A killed worker's unacked messages go back to the queue once its heartbeat is older than
# this; the default (60 s, checked on 0.1 % of commands) strands them for about 5 minutes.
HEARTBEAT_TIMEOUT_MS = 10_000
MAINTENANCE_CHANCE = 100_000  # out of 1,000,000 commands: 10 %


def make_broker(settings: dict[str, Any]) -> dramatiq.Broker:
    """A RedisBroker for ``payhub.broker = redis``, else a StubBroker."""
    middleware = [
        AgeLimit(),
        TimeLimit(),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(),
    ]
    if settings.get("payhub.broker", "stub") == "redis":
        broker: dramatiq.Broker = RedisBroker(
            url=settings["payhub.redis_url"],
            middleware=middleware,
            heartbeat_timeout=int(
                settings.get("payhub.heartbeat_timeout_ms", HEARTBEAT_TIMEOUT_MS)
            ),
            maintenance_chance=int(settings.get("payhub.maintenance_chance", MAINTENANCE_CHANCE)),
            namespace=settings.get("payhub.redis_namespace", "payhub"),
            socket_timeout=5,
            socket_connect_timeout=2,
        )
    else:
        broker = StubBroker(middleware=middleware)
        broker.emit_after("process_boot")
    return broker


def worker_metrics_port(settings: dict[str, Any]) -> int | None:
    """``payhub.worker_metrics_port``: where each `payhub worker` serves Dramatiq's own metrics
    (messages, errors, durations per actor); empty (the default) = off."""
    value = str(settings.get("payhub.worker_metrics_port", "") or "").strip()
    return int(value) if value else None


def add_worker_metrics(broker: dramatiq.Broker, settings: dict[str, Any]) -> bool:
    """In a worker process (payhub.worker_boot) only: Dramatiq's Prometheus middleware, whose
    exposition process serves every worker process of one `payhub worker` on
    payhub.worker_metrics_host (127.0.0.1):payhub.worker_metrics_port. Web processes and the
    scheduler never boot it (they have no worker)."""
    port = worker_metrics_port(settings)
    if port is None or not isinstance(broker, RedisBroker):
        return False
    import os

    # read by dramatiq.middleware.prometheus at import, here and in its exposition process
    os.environ.setdefault(
        "dramatiq_prom_host", str(settings.get("payhub.worker_metrics_host", "127.0.0.1"))
    )
    os.environ.setdefault("dramatiq_prom_port", str(port))
    from dramatiq.middleware.prometheus import Prometheus

    broker.add_middleware(Prometheus())
    return True


def setup(settings: dict[str, Any], session_factory: Any) -> dramatiq.Broker:
    """Make the broker current, add the unit-of-work middleware, declare every actor."""
    old = dramatiq.get_broker() if _has_broker() else None
    broker = make_broker(settings)
    broker.add_middleware(UnitOfWork(session_factory))
    dramatiq.set_broker(broker)
    extra = [m for m in str(settings.get("payhub.extra_actor_modules", "")).split() if m]
    for name in (*ACTOR_MODULES, *extra):
        importlib.import_module(name)
    if old is not None and old is not broker:
        for actor_name in old.get_declared_actors():
            actor = old.get_actor(actor_name)
            actor.broker = broker
            broker.declare_actor(actor)
    broker.payhub_settings = settings  # type: ignore[attr-defined]
    broker.payhub_embedded = as_bool(settings.get("payhub.embedded_worker", False))  # type: ignore[attr-defined]
    return broker


def _has_broker() -> bool:
    return dramatiq.broker.global_broker is not None
