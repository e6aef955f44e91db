"""nodesim's ACA bulk v2 (``gpd-4-aca_massive_v2.json``): files of positions created,
updated and deleted as the one-by-one calls would, their status and report, and the document's
answers (checked with openapi-core)."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from webtest import TestApp

from nodesim.aca import BASE_V2
from nodesim.app import make_app
from tests.conftest import SHARED

KEY = "files-key"
ORG = "77777777777"
FILES = f"{BASE_V2}/brokers/88888888888/organizations/{ORG}/debtpositions/file"
DOC = SHARED / "pagopa" / "openapi" / "gpd-4-aca_massive_v2.json"
HEADERS = {"Ocp-Apim-Subscription-Key": KEY}


@pytest.fixture(scope="module")
def contract() -> OpenAPI:
    if not DOC.is_file():
        pytest.skip(f"{DOC} is absent")
    return OpenAPI.from_dict(json.loads(DOC.read_text()), config=Config(spec_validator_cls=None))


@pytest.fixture
def sim(contract):
    app = TestApp(make_app({"nodesim.background": "false", "nodesim.rest_key": KEY}))

    def call(method: str, tail: str = "", document: dict | None = None):
        kwargs: dict = {"headers": HEADERS, "expect_errors": True, "method": method}
        if document is not None:
            content = io.BytesIO()
            with zipfile.ZipFile(content, "w") as archive:
                archive.writestr("positions.json", json.dumps(document))
            files = [("file", "positions.zip", content.getvalue())]
            kwargs["content_type"], kwargs["body"] = app.encode_multipart([], files)
        res = app.request(FILES + tail, **kwargs)
        request = MockRequest(
            "https://api.platform.pagopa.it", method.lower(), FILES + tail, headers=HEADERS
        )
        contract.validate_response(
            request,
            MockResponse(res.body, status_code=res.status_int, content_type=res.content_type),
        )
        return res

    return app, call


def _position(iupd: str, iuv: str, amount: int = 1000) -> dict:
    return {
        "iupd": iupd,
        "type": "F",
        "fiscalCode": "RSSMRA80A01H501U",
        "fullName": "Mario Rossi",
        "companyName": "Comune",
        "switchToExpired": False,
        "paymentOption": [
            {
                "iuv": iuv,
                "amount": amount,
                "description": "TARI",
                "isPartialPayment": False,
                "dueDate": "2026-12-31T23:59:59+01:00",
                "transfer": [
                    {
                        "idTransfer": "1",
                        "amount": amount,
                        "remittanceInformation": "TARI",
                        "category": "9/0101101IM/",
                        "iban": "IT60X0542811101000000123456",
                    }
                ],
            }
        ],
    }


def _finish(call, res) -> dict:
    file_id = res.headers["Location"].split("/")[-2]
    status = call("GET", f"/{file_id}/status").json
    assert status["uploadID"] == file_id
    return {"status": status, "report": call("GET", f"/{file_id}/report").json}


def test_a_file_creates_updates_and_deletes_positions_as_the_single_calls_would(sim):
    app, call = sim
    created = call("POST", document={"paymentPositions": [_position("A", "01000000000000001")]})
    assert created.status_int == 202 and created.headers["Retry-After"].endswith("ms")
    done = _finish(call, created)
    assert done["status"]["operationStatus"] == "COMPLETED"
    assert done["report"]["responses"] == [
        {"statusCode": 201, "statusMessage": "Created", "iupds": ["A"]}
    ]
    changed = call(
        "PUT", document={"paymentPositions": [_position("A", "01000000000000001", 2000)]}
    )
    assert _finish(call, changed)["status"]["operationStatus"] == "COMPLETED"
    [held] = app.get("/api/aca/positions").json["positions"]
    assert held["paymentOption"][0]["amount"] == 2000
    deleted = call("DELETE", document={"paymentPositionIUPDs": ["A", "NOPE"]})
    done = _finish(call, deleted)
    assert done["status"]["operationStatus"] == "COMPLETED_WITH_WARNINGS"
    assert sorted(r["statusCode"] for r in done["report"]["responses"]) == [200, 404]
    assert app.get("/api/aca/positions").json["positions"] == []


def test_positions_there_already_are_409_in_the_report(sim):
    _, call = sim
    document = {"paymentPositions": [_position("B", "01000000000000002")]}
    _finish(call, call("POST", document=document))
    again = _finish(call, call("POST", document=document))
    assert again["status"]["operationStatus"] == "COMPLETED_UNSUCCESSFULLY"
    assert [r["statusCode"] for r in again["report"]["responses"]] == [409]


def test_a_file_without_positions_or_a_wrong_key_is_refused(sim):
    app, call = sim
    assert call("POST", document={"paymentPositions": []}).status_int == 400
    res = app.get(FILES + "/x/status", headers={"Ocp-Apim-Subscription-Key": "no"}, status=401)
    assert res.status_int == 401
