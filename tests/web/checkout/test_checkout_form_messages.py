"""The citizen's form names each wrong field by its label, in the page's language, in the
summary above the form (issue 16), each linked to its field."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.pg]


@pytest.mark.parametrize(
    ("lang", "address", "payer"),
    [
        ("it", "Indirizzo: Questo campo è obbligatorio.", "Codice fiscale o partita IVA"),
        ("de", "Indirizzo: Dieses Feld ist erforderlich.", "Steuernummer oder MwSt.-Nummer"),
        ("en", "Indirizzo: This field is required.", "Fiscal code or VAT number"),
    ],
)
def test_the_error_summary_names_each_field_by_its_label(shop, lang, address, payer):
    shop.app.get(f"/pay/?lang={lang}")
    answer = shop.spontaneous(address="", payer_fiscal_code="NOTACODE")
    items = answer.html.select("#form-errors-list li")
    said = [li.text.strip() for li in items]
    assert address in said
    assert any(s.startswith(payer + ":") for s in said)
    assert {li.a["href"] for li in items} >= {"#address", "#payer_fiscal_code"}
