"""Entry point for ``dramatiq payhub.worker_boot``: sets the broker up from PAYHUB_CONFIG."""

from __future__ import annotations

import os

from plaster import get_settings

from actors import broker as broker_mod
from actors import outbox
from hub import http
from hub.db import make_engine, make_session_factory
from hub.logging import configure_logging
from hub.settings import load_settings

_settings = load_settings(
    get_settings(os.environ.get("PAYHUB_CONFIG", "development.ini"), "app:main")
)
configure_logging(_settings["payhub.log_format"], _settings["payhub.log_level"])
http.configure(_settings)  # webhook deliveries and the Node client trust payhub.outgoing_ca_bundle
_factory = make_session_factory(make_engine(_settings["sqlalchemy.url"]))
broker = broker_mod.setup({**_settings, "payhub.embedded_worker": "false"}, _factory)
broker_mod.add_worker_metrics(broker, _settings)  # payhub.worker_metrics_port, when set
# actors that write outbox rows relay them after their own commit, like the web process
outbox.install_relay(_factory)
