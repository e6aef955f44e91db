"""The OpenAPI document matches the API: schemathesis finds no 5xx and no answer (status,
content type, headers, body) that the document does not allow."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi import checks as oas_checks

from web.api.openapi import build

pytestmark = pytest.mark.pg
schema = schemathesis.openapi.from_dict(build())
CHECKS = [
    schemathesis.checks.not_a_server_error,
    oas_checks.status_code_conformance,
    oas_checks.content_type_conformance,
    oas_checks.response_headers_conformance,
    oas_checks.response_schema_conformance,
    oas_checks.negative_data_rejection,
]


def test_every_schema_reference_resolves_and_no_model_name_is_taken_twice():
    """Two input models of one name become module-qualified components; a path still naming
    the short name would point at nothing (and any body would pass for valid)."""
    import json
    import re

    document = build()
    components = document["components"]["schemas"]
    refs = set(re.findall(r"#/components/schemas/([A-Za-z0-9_.-]+)", json.dumps(document)))
    assert sorted(r for r in refs if r not in components) == []
    assert [name for name in components if "__" in name] == []


def test_the_document_is_served_and_is_openapi_3_1(world):
    document = world.app.get("/api/v1/openapi.json").json
    assert document["openapi"] == "3.1.0" and document == build()
    assert "createDebtPosition" in world.app.get("/api/v1/docs/operations").text


def test_interactive_docs_are_served_locally_and_load_the_document(world):
    page = world.app.get("/api/v1/docs").text
    assert "http" not in page.replace("http-equiv", "")  # nothing from another host
    for asset in ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"):
        assert f"/api/v1/docs/assets/{asset}" in page
        assert world.app.get(f"/api/v1/docs/assets/{asset}").content_length > 1000
    init = world.app.get("/api/v1/docs/init.js")
    assert '"/api/v1/openapi.json"' in init.text and init.content_type == "text/javascript"


@schema.parametrize()
@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_document(case, world):
    world.app.post_json(world.url("?publish=true"), _example(), headers=world.auth(), status="*")
    case.call_and_validate(app=world.app.app, headers=world.auth(), checks=CHECKS)


def _example() -> dict:
    from tests.web.api.conftest import position_body

    return position_body("IUPD-1")
