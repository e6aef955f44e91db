"""What the ACA tests (test_aca.py: one by one, test_aca_bulk.py: bulk v2) share: pagoPA's
OpenAPI document loaded for openapi-core, a session that checks every request and answer
against it, nodesim's ACA state and faults over HTTP, and a position with two transfers. The
nodesim server itself is the ``sim`` fixture of tests/hub/conftest.py."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
import requests
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from webtest.http import StopableWSGIServer

from hub import clock
from hub.positions.inputs import DebtPositionInput
from tests.conftest import SHARED
from tests.factories import IBAN

KEY = "aca-test-key"
HOST = "https://api.platform.pagopa.it"  # the documents' server; their paths follow it


def load_contract(name: str) -> OpenAPI:
    """``shared/pagopa/openapi/<name>``, or skip the test saying it is absent."""
    doc = SHARED / "pagopa" / "openapi" / name
    if not doc.is_file():
        pytest.skip(f"{doc} is absent")
    # the document is taken as published (not itself checked); requests and answers are
    return OpenAPI.from_dict(json.loads(doc.read_text()), config=Config(spec_validator_cls=None))


class CheckedSession(requests.Session):
    """Sends for real, and checks each request and answer against ``contract``; ``sent``
    keeps (method, ``label(path)``, status) of each."""

    def __init__(self, contract: OpenAPI, label: Callable[[str], str]) -> None:
        super().__init__()
        self.contract = contract
        self.label = label
        self.sent: list[tuple[str, str, int]] = []

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        response = super().request(method, url, *args, **kwargs)
        prepared = response.request
        parts = urlsplit(prepared.url)
        args = dict(p.split("=", 1) for p in parts.query.split("&") if p)
        body = prepared.body or b""
        checked = MockRequest(
            HOST,
            method.lower(),
            parts.path,
            args=args,
            headers=dict(prepared.headers),
            data=body if isinstance(body, bytes) else body.encode(),
            content_type=prepared.headers.get("Content-Type", "application/json"),
        )
        self.contract.validate_request(checked)
        injected = response.status_code == 429 and b"injected fault" in response.content
        if not injected:  # pagoPA's gateway throttles with 429, which the documents leave out
            self.contract.validate_response(
                checked,
                MockResponse(
                    response.content,
                    status_code=response.status_code,
                    content_type=response.headers.get("Content-Type", "application/json"),
                ),
            )
        self.sent.append((method, self.label(parts.path), response.status_code))
        return response


def state(sim: StopableWSGIServer) -> dict:
    """What nodesim's ACA holds: positions (and the files uploaded)."""
    return requests.get(sim.application_url + "api/aca/positions", timeout=5).json()


def faults(sim: StopableWSGIServer, **body) -> None:
    """Faults nodesim's ACA is to answer with (none: ``faults(sim)``)."""
    requests.post(sim.application_url + "api/aca/faults", json=body, timeout=5)


def position_data(
    iupd: str, amounts: tuple[str, str] = ("20.00", "10.00"), notice: str | None = None
) -> DebtPositionInput:
    """A TARI position of one option with two transfers (the second to another Ente)."""
    total = f"{sum(float(a) for a in amounts):.2f}"
    return DebtPositionInput.of(
        iupd=iupd,
        debtor_type="F",
        debtor_fiscal_code="RSSMRA80A01H501U",
        debtor_name="Mario Rossi",
        description="TARI 2026",
        options=[
            {
                "amount": total,
                "due_date": clock.today() + dt.timedelta(days=30),
                "notice_number": notice,
                "transfers": [
                    {
                        "amount": amounts[0],
                        "remittance_information": "TARI quota comune",
                        "category": "9/0101101IM/",
                        "iban": IBAN,
                    },
                    {
                        "amount": amounts[1],
                        "remittance_information": "TEFA quota provincia",
                        "category": "9/0101101IM/",
                        "iban": IBAN,
                        "beneficiary_fiscal_code": "00112233445",
                    },
                ],
            }
        ],
    )
