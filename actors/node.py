"""The Node's reporting client for actors, chosen in settings (a real and a fake service).

actors/ may not reach sideways into soap/ at will: this module is the one place that does, for
the client side of nodeForPa that soap/node_client.py owns (its wire format belongs with the
rest of the SOAP code), imported here as a module, never named by a string. The default builds
soap.node_client.NodeClient from the ``payhub.node_*`` settings; ``payhub.node_client_factory``
(``module:callable``, given the settings) may name another implementation, a fake.
"""

from __future__ import annotations

import importlib
import operator
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from actors.middleware import current_settings
from hub.config import Config, as_config
from soap.node_client import (
    BadNodeResponse,
    FlowRef,
    NodeClient,
    NodeError,
    NodeUnavailable,
    UnknownFlow,
)

__all__ = [
    "BadNodeResponse",
    "FlowRef",
    "NodeError",
    "NodeUnavailable",
    "ReportingClient",
    "UnknownFlow",
    "node_client",
    "settings",
]


class ReportingClient(Protocol):
    id_station: str

    def list_flows(
        self, ec_fiscal_code: str | None = None, psp: str | None = None
    ) -> list[FlowRef]: ...

    def get_flow(
        self, flow_id: str, ec_fiscal_code: str | None = None, psp: str | None = None
    ) -> bytes: ...


def settings() -> Config:
    """The settings of the broker running this message (its Settings middleware)."""
    return current_settings()


def node_client(config: Config | Mapping[str, Any] | None = None) -> ReportingClient:
    """The Node's client (or the one named by ``payhub.node_client_factory``), built from
    ``config``."""
    config = settings() if config is None else as_config(config)
    factory: Callable[[Config], ReportingClient] = NodeClient.from_settings
    if config.node_client_factory:
        module, _, name = config.node_client_factory.partition(":")
        factory = operator.attrgetter(name)(importlib.import_module(module))
    return factory(config)
