"""Dramatiq actors and middleware: the work that follows each message.

``includeme`` (web process) sets the broker up from settings, relays the outbox of every
committed request, and, in the embedded default, runs a worker and the scheduler in-process.
"""

from __future__ import annotations

from typing import Any


def includeme(config: Any) -> None:
    from actors import broker as broker_mod
    from actors import outbox
    from actors.embedded import start_embedded
    from hub.config import from_registry

    settings = from_registry(config.registry)
    factory = config.registry["db.session_factory"]
    broker = broker_mod.setup(settings, factory)
    outbox.install_relay(factory)
    config.registry["dramatiq.broker"] = broker
    if settings.embedded_worker:
        config.registry["embedded"] = start_embedded(broker, factory, settings)
