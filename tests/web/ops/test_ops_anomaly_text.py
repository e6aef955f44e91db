"""Anomaly details on the dashboard: the hub's code and parameters said in the page's language,
amounts Italian-style and times in Italian time; free text written before codes is shown as it
is; the REST API keeps the code and parameters with an English sentence."""

from __future__ import annotations

import sqlalchemy as sa
from pyramid import testing

from hub.models import Anomaly, Ente
from hub.seed import DEMO_SUPPORT
from hub.values import anomaly_details
from tests.factories import paid_option
from tests.web.ops.conftest import A
from web.ops import anomaly_text


def _add(ops, *details: str) -> None:
    with ops.factory.begin() as session:
        ente = session.scalar(sa.select(Ente).where(Ente.fiscal_code == A))
        session.add_all(Anomaly(kind="amount_mismatch", ente_id=ente.id, detail=d) for d in details)


def _cell(page, needle: str) -> str:
    return next(td.text for td in page.html.find_all("td") if needle in td.text)


def test_the_support_anomalies_page_says_a_detail_in_italian_german_and_english(ops):
    _add(
        ops,
        anomaly_details.detail("receipt_amount_mismatch", paid_cents=123450, expected_cents=100000),
        anomaly_details.detail("receipt_while_status", receipt="R-77", status="cancelled"),
    )
    ops.login(DEMO_SUPPORT)
    italian = ops.app.get("/ops/support/anomalies?lang=it")
    assert "importo della ricevuta 1.234,50 €, atteso 1.000,00 €" in italian.text
    assert "mentre l'avviso era: annullato" in _cell(italian, "R-77")
    german = ops.app.get("/ops/support/anomalies?lang=de")
    assert "Betrag der Quittung 1.234,50 €, erwartet 1.000,00 €" in german.text
    english = ops.app.get("/ops/support/anomalies?lang=en")
    assert "receipt amount €1,234.50, expected €1,000.00" in english.text
    assert "receipt R-77 arrived while the notice was cancelled" in english.text
    assert '"code"' not in english.text and "paid_cents" not in english.text


def test_an_old_free_text_detail_is_shown_as_it_was_written(ops):
    _add(ops, "receipt amount 12550 cents, expected 10000")
    ops.login(DEMO_SUPPORT)
    page = ops.app.get("/ops/support/anomalies?lang=de")
    assert "receipt amount 12550 cents, expected 10000" in page.text


def test_the_payment_page_names_the_kind_and_says_the_detail_in_the_pages_language(ops):
    with ops.factory.begin() as session:
        ente = session.scalar(sa.select(Ente).where(Ente.fiscal_code == A))
        option, _ = paid_option(session, ente)
        session.add(
            Anomaly(
                kind="amount_mismatch",
                ente_id=ente.id,
                option_id=option.id,
                detail=anomaly_details.detail(
                    "receipt_amount_mismatch", paid_cents=3000, expected_cents=2500
                ),
            )
        )
        option_id = option.id
    ops.login()
    page = ops.app.get(f"/ops/enti/{A}/payments/{option_id}?lang=de")
    section = page.html.find(id="h-anomalies").find_next("ul").text
    assert "Betrag der Quittung 30,00 €, erwartet 25,00 €" in section
    assert "amount_mismatch" not in section


def test_a_time_in_a_detail_is_shown_in_italian_time_with_its_zone():
    request = testing.DummyRequest()
    request.localizer = _Localizer("it")
    text = anomaly_details.detail(
        "receipt_needs_iur", iuv="01234567890123456", since_at="2026-07-01T10:05:00", hours="48"
    )
    assert "dal 2026-07-01 12:05 CEST" in anomaly_text.sentence(request, text)


def test_dates_are_written_as_each_language_writes_them():
    text = anomaly_details.detail(
        "credit_duplicate", amount_cents=5, value_on="2026-12-07", flow="F-1"
    )
    said = {lang: anomaly_text.sentence(_request(lang), text) for lang in ("it", "de", "en")}
    assert "0,05 € del 07/12/2026" in said["it"]
    assert "0,05 € vom 07.12.2026" in said["de"]
    assert "€0.05 on 2026-12-07" in said["en"]


def test_why_a_receipt_was_to_recover_is_said_in_words():
    text = anomaly_details.detail(
        "receipt_not_recovered",
        iuv="01234567890123456",
        iur="-",
        recovery_reason="stuck",
        attempts=5,
        since_on="2026-12-01",
    )
    said = anomaly_text.sentence(_request("it"), text)
    assert "(pagamento bloccato in corso) dopo 5 tentativi dal 01/12/2026" in said


class _Localizer:
    """The catalogues' localizer for ``lang`` (pyramid's own, from the payhub translations)."""

    def __init__(self, lang: str) -> None:
        from pyramid.i18n import make_localizer

        from web.checkout.i18n import __file__ as i18n_file

        folder = i18n_file.rsplit("/", 1)[0] + "/locale"
        self._real = make_localizer(lang, [folder])
        self.locale_name = lang

    def translate(self, message):
        return self._real.translate(message)


def _request(lang: str):
    request = testing.DummyRequest()
    request.localizer = _Localizer(lang)
    return request
