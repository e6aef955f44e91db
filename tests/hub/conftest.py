"""Fixtures of tests/hub: ``sim``, nodesim over HTTP for the ACA tests (test_aca.py,
test_aca_bulk.py; helpers in aca_support.py). It takes the requesting module's ``contract``
(the OpenAPI document the module checks against), so a missing document skips the test before
the server starts. A module with a ``sim`` of its own (reconciliation/test_fdr3.py) keeps it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from openapi_core import OpenAPI
from webtest.http import StopableWSGIServer

from nodesim.app import make_app
from tests.hub.aca_support import KEY


@pytest.fixture
def sim(contract: OpenAPI) -> Iterator[StopableWSGIServer]:
    server = StopableWSGIServer.create(
        make_app({"nodesim.background": "false", "nodesim.rest_key": KEY})
    )
    yield server
    server.shutdown()
