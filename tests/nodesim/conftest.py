"""nodesim unit fixtures: the official schemas, a fake station, a Node on a frozen clock."""

from __future__ import annotations

import datetime as dt

import pytest
from lxml import etree

from nodesim.clock import SimClock
from nodesim.delivery import RetryPolicy
from nodesim.node import Node
from nodesim.station import StationClient, StationConfig
from tests.conftest import shared_schema
from tests.nodesim.fakestation import FakeStation

START = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="session")
def pa_for_node_xsd() -> etree.XMLSchema:
    return shared_schema("pagopa", "wsdl", "xsd", "paForNode.xsd")


@pytest.fixture(scope="session")
def fdr_xsd() -> etree.XMLSchema:
    return shared_schema("pagopa", "xsd-common", "FlussoRiversamento_1_0_4.xsd")


@pytest.fixture(scope="session")
def node_for_pa_xsd() -> etree.XMLSchema:
    return shared_schema("pagopa", "wsdl", "xsd", "nodeForPa.xsd")


@pytest.fixture
def clock() -> SimClock:
    return SimClock(frozen_at=START)


@pytest.fixture
def make_node(pa_for_node_xsd, clock):
    """make_node(version=2, **policy) -> (node, fake station)."""

    def make(version: int = 2, **policy: float) -> tuple[Node, FakeStation]:
        station = FakeStation(pa_for_node_xsd, version)
        config = StationConfig(url="http://station.invalid/soap", primitive_version=version)
        node = Node(
            config,
            clock=clock,
            client=StationClient(config, station),
            policy=RetryPolicy(**{"backoff_seconds": 10, **policy}),
        )
        return node, station

    return make
