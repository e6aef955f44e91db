"""The GPD-compatible API under test: the WSGI app, an Ente with an API key, and a client that
checks every request and answer against pagoPA's official OpenAPI documents (openapi-core):
v1 against GPD's external v1 document, v3 against ``pagopa/openapi/gpd_v3.json``.

GPD's internal operations the feature files also use (bulk create, read by IUV) are in
neither document; their calls are listed in ``GpdClient.unchecked`` instead of checked.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from openapi_core import Config, OpenAPI
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
from openapi_core.testing import MockRequest, MockResponse
from webtest import TestApp, TestResponse

from hub import clock
from hub.tenants import api_keys
from hub.values.notice_numbers import check_digits
from payhub.app import configure
from tests.conftest import SHARED
from tests.factories import IBAN, make_ente

V1_DOC = SHARED / "peer-material" / "gpd-debt-position" / "openapi_external_v1.json"
V3_DOC = SHARED / "pagopa" / "openapi" / "gpd_v3.json"
ODP_DOC = SHARED / "pagopa" / "openapi" / "orgs_payment_options.json"
FEATURES = SHARED / "peer-material" / "gpd-debt-position" / "features"
ODP_PREFIX = "/odp/v1"  # ours; the document's server path is /service/v1
PREFIX = "/gpd/debt-positions-service"
HOST = "https://api.platform.pagopa.it"  # the documents' server: same path prefix as ours
EC = "77777777777"  # env.local.properties' organization_fiscal_code
DEBTOR = "RSSMRA80A01H501U"


def _doc(path: Path) -> OpenAPI | None:
    """The document as pagoPA publishes it. The document itself is not checked: GPD's own
    says ``"default": "true"`` (a string) for the boolean ``payStandIn``, which a strict
    OpenAPI checker refuses; requests and answers are still checked against every schema.
    One Java regular expression is translated: the IUPD path pattern ``[\\w*\\h-]+`` uses
    ``\\h`` (horizontal white space), which Python's ``re`` lacks; ``[ \\t]`` says the same
    for the characters a path can hold."""
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8").replace("\\\\h", " \\\\t")
    return OpenAPI.from_dict(json.loads(text), config=Config(spec_validator_cls=None))


@pytest.fixture(scope="session")
def contracts() -> dict[str, OpenAPI | None]:
    return {"v1": _doc(V1_DOC), "v3": _doc(V3_DOC), "odp": _doc(ODP_DOC)}


@pytest.fixture(scope="session")
def gpd_app(pg_url) -> TestApp:
    return TestApp(
        configure(
            {"sqlalchemy.url": pg_url, "payhub.broker": "stub", "payhub.embedded_worker": "false"}
        ).make_wsgi_app()
    )


@dataclass
class GpdClient:
    app: TestApp
    contracts: dict[str, OpenAPI | None]
    key: str
    factory: Any = None  # committed sessions on the app's database
    checked: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)

    def call(
        self,
        method: str,
        version: str,
        tail: str,
        body: Any = None,
        params: dict[str, str] | None = None,
        key: str | None = "default",
        org: str = EC,
        check_request: bool = True,
    ) -> TestResponse:
        """Call, then check the request (unless ``check_request`` is False: a request the
        document itself refuses, sent on purpose) and the answer against the document."""
        path = f"{PREFIX}/{version}/organizations/{org}{tail}"
        headers = (
            {}
            if key is None
            else {"Ocp-Apim-Subscription-Key": self.key if key == "default" else key}
        )
        data = None if body is None else json.dumps(body).encode()
        kwargs: dict[str, Any] = {"headers": headers, "expect_errors": True}
        if data is not None:
            kwargs.update(params=data, content_type="application/json")
        url = path + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")
        res = getattr(self.app, method.lower())(url, **kwargs)
        self.validate(version, method, path, params, headers, data, res, check_request)
        return res

    def payment_options(
        self, nav: str, *, org: str = EC, key: str | None = "default", check: bool = True
    ) -> TestResponse:
        """POST getPaymentOptionsByNoticeNumber; request and answer checked against
        orgs_payment_options.json (``check=False``: an answer the document has no entry for,
        such as 401)."""
        tail = f"/payment-options/organizations/{org}/notices/{nav}"
        headers = (
            {}
            if key is None
            else {"Ocp-Apim-Subscription-Key": self.key if key == "default" else key}
        )
        res = self.app.post(ODP_PREFIX + tail, headers=headers, expect_errors=True)
        doc = self.contracts.get("odp")
        if doc is None:
            pytest.skip(f"{ODP_DOC} is absent")
        if check:
            request = MockRequest(
                "http://api.platform.it", "post", "/service/v1" + tail, headers=headers
            )
            doc.validate_request(request)
            doc.validate_response(
                request,
                MockResponse(res.body, status_code=res.status_int, content_type=res.content_type),
            )
            self.checked.append(f"POST {tail} {res.status_int}")
        return res

    def validate(self, version, method, path, params, headers, data, res, check_request) -> None:
        """Check the request and the answer against the version's official document."""
        doc = self.contracts.get(version)
        if doc is None:
            pytest.skip(f"{V1_DOC if version == 'v1' else V3_DOC} is absent")
        request = MockRequest(
            HOST, method.lower(), path, args=params or {}, headers=headers, data=data or b""
        )
        content_type = res.content_type or "application/json"
        response = MockResponse(res.body, status_code=res.status_int, content_type=content_type)
        try:
            if check_request:
                doc.validate_request(request)
            doc.validate_response(request, response)
        except (PathNotFound, OperationNotFound):
            self.unchecked.append(f"{method} {path}")
            return
        self.checked.append(f"{method} {path} {res.status_int}")


@pytest.fixture
def gpd(gpd_app, committed_factory, contracts) -> GpdClient:
    """An Ente 77777777777 (segregation code 01) with its key, and the checking client."""
    with committed_factory.begin() as session:
        ente = make_ente(session, EC, segregation_code="01")
        ente.name = "Testing S.p.A."
        make_ente(session, "00112233445", segregation_code="02")
        key = api_keys.create_key(session, "gestionale GPD", [EC]).secret
    return GpdClient(gpd_app, contracts, key, committed_factory)


def random_iuv() -> str:
    """A 17-digit IUV of segregation code 01 with correct check digits."""
    body = "01" + "".join(secrets.choice("0123456789") for _ in range(13))
    return body + check_digits(3, body)


def day(offset: int) -> str:
    """An instant ``offset`` days ahead in Italian time, with its offset (RFC 3339, as the
    documents' ``date-time`` format requires)."""
    moment = clock.local(clock.now()) + dt.timedelta(days=offset)
    return moment.replace(microsecond=0).isoformat()


def transfer(amount: int, id_transfer: str = "1", **extra: Any) -> dict[str, Any]:
    return {
        "idTransfer": id_transfer,
        "amount": amount,
        "remittanceInformation": "Tassa rifiuti 2026",
        "category": "9/0101101IM/",
        "iban": IBAN,
        **extra,
    }


def v1_option(
    amount: int = 10000, *, partial: bool = False, due: int = 5, iuv: str | None = None
) -> dict:
    return {
        "iuv": iuv or random_iuv(),
        "amount": amount,
        "description": "Canone unico patrimoniale - CORPORATE",
        "isPartialPayment": partial,
        "dueDate": day(due),
        "retentionDate": day(due + 90),
        "transfer": [
            transfer(amount - 2000, "1"),
            transfer(2000, "2", organizationFiscalCode="00112233445"),
        ],
        "paymentOptionMetadata": [{"key": "anno", "value": "2026"}],
    }


def v1_position(iupd: str, options: list[dict] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "iupd": iupd,
        "type": "F",
        "fiscalCode": DEBTOR,
        "fullName": "Mario Rossi",
        "streetName": "Via Roma",
        "civicNumber": "1",
        "postalCode": "00100",
        "city": "Roma",
        "province": "RM",
        "region": "Lazio",
        "country": "IT",
        "email": "mario.rossi@example.org",
        "phone": "3330000000",
        "switchToExpired": False,
        "companyName": "Testing S.p.A.",
        "officeName": "Ufficio tributi",
        "paymentOption": options or [v1_option()],
        **extra,
    }


def v3_installment(amount: int = 10000, *, due: int = 5, iuv: str | None = None) -> dict:
    return {
        "iuv": iuv or random_iuv(),
        "amount": amount,
        "description": "Rata TARI 2026",
        "dueDate": day(due),
        "transfer": [
            transfer(amount - 2000, "1"),
            transfer(2000, "2", organizationFiscalCode="00112233445"),
        ],
        "installmentMetadata": [{"key": "anno", "value": "2026"}],
    }


def v3_position(iupd: str, groups: list[list[dict]] | None = None) -> dict[str, Any]:
    debtor = {
        "type": "F",
        "fiscalCode": DEBTOR,
        "fullName": "Mario Rossi",
        "streetName": "Via Roma",
        "civicNumber": "1",
        "postalCode": "00100",
        "city": "Roma",
        "province": "RM",
        "country": "IT",
        "email": "mario.rossi@example.org",
    }
    return {
        "iupd": iupd,
        "payStandIn": True,
        "companyName": "Testing S.p.A.",
        "officeName": "Ufficio tributi",
        "paymentOption": [
            {
                "description": "TARI 2026",
                "retentionDate": day(120),
                "switchToExpired": False,
                "debtor": debtor,
                "installments": installments,
            }
            for installments in (groups or [[v3_installment()]])
        ],
    }
