"""Entry point for ``dramatiq payhub.worker_boot``: sets the broker up from PAYHUB_CONFIG."""

from __future__ import annotations

import os
from typing import Any

from plaster import get_settings

from actors import broker as broker_mod
from actors import outbox
from hub import config as hub_config
from hub.db import engine_from_config, make_session_factory


def read_config(config_uri: str) -> hub_config.Config:
    """The worker's settings, built as the web app and the scheduler build theirs."""
    return hub_config.start(get_settings(config_uri, "app:main"))


def boot(config: hub_config.Config) -> Any:
    """The broker of a worker process: its engine with the pool settings, no embedded worker
    (this is the worker), Dramatiq's metrics when ``payhub.worker_metrics_port`` is set."""
    factory = make_session_factory(engine_from_config(config))
    worker_broker = broker_mod.setup(config.replace(embedded_worker=False), factory)
    broker_mod.add_worker_metrics(worker_broker, config)
    # actors that write outbox rows relay them after their own commit, like the web process
    outbox.install_relay(factory)
    return worker_broker


config = read_config(os.environ.get("PAYHUB_CONFIG", "development.ini"))
broker = boot(config)
