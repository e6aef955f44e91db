"""A dashboard form's validation messages are sentences in the page's language that name the
field by its label there, not pydantic's text nor the field's code (issue 16)."""

from __future__ import annotations

import pytest

from hub.seed import DEMO_STATION
from hub.tenants import operators

pytestmark = [pytest.mark.pg]


@pytest.fixture
def admin(ops):
    with ops.factory.begin() as session:
        operators.create_account(session, "form-admin", "form-admin-pw", role="intermediary")
    ops.login("form-admin", "form-admin-pw", status=303)
    return ops


@pytest.mark.parametrize(
    ("lang", "fiscal_code", "name"),
    [
        ("de", "Steuernummer hat nicht das erwartete Format", "Name ist erforderlich"),
        ("it", "Codice fiscale non è nel formato atteso", "Nome è obbligatorio"),
        ("en", "Fiscal code is not in the expected format", "Name is required"),
    ],
)
def test_a_bad_value_is_said_in_the_pages_language_naming_the_fields_label(
    admin, lang, fiscal_code, name
):
    page = admin.post(
        f"/ops/admin/new/ente?lang={lang}",
        {"fiscal_code": "123", "segregation_code": "05", "stations": DEMO_STATION},
        status=200,
    )
    assert page.html.select_one("#ente-fiscal_code-error").text.strip() == fiscal_code
    assert page.html.select_one("#ente-name-error").text.strip() == name
    assert "should match pattern" not in page.text and "fiscal_code" not in (
        page.html.select_one("#ente-fiscal_code-error").text
    )
