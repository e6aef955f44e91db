"""Apps built from a settings dict for the web tests (their engines are closed by the root
conftest's ``_dispose_app_engines``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from webtest import TestApp

from payhub.app import configure


@pytest.fixture
def build_app() -> Callable[..., TestApp]:
    """``build_app(url, **settings)``: the app on the stub broker without the embedded worker,
    the SOAP station or the SLA recorder, called from 127.0.0.1."""

    def build(url: str, **extra: str) -> TestApp:
        settings = {
            "sqlalchemy.url": url,
            "payhub.broker": "stub",
            "payhub.embedded_worker": "false",
            "payhub.sla_recorder": "false",
            "payhub.soap_enabled": "false",
            **extra,
        }
        return TestApp(
            configure(settings).make_wsgi_app(), extra_environ={"REMOTE_ADDR": "127.0.0.1"}
        )

    return build
