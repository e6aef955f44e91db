"""An anomaly's detail in the reader's language (issue 16).

The hub stores a code and parameters (``hub.values.anomaly_details``); here the code's English
sentence is looked up in the catalogues (domain ``payhub``: the msgids are extracted from
``hub/values``) and its parameters are written for people: amounts Italian-style
(``1.234,50 €``; English ``€1,234.50``), times in Italian time with the zone named, a payment's
state in words. A detail written before codes existed is free text and is shown as it is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from pyramid.i18n import TranslationString

from hub import clock
from hub.values import anomaly_details
from web.checkout.i18n import DOMAIN, _
from workflows.payment import OptionStatus

# a payment option's states, as the dashboard names them (web/ops/templates/_state.jinja2);
# the keys are the machine's states, the strings are catalogue msgids (words shown to people,
# each line marked: not a payment state)
STATES = {
    OptionStatus.DRAFT: _("draft"),  # not a payment state: the msgid
    OptionStatus.PAYABLE: _("payable"),  # not a payment state: the msgid
    OptionStatus.IN_PROGRESS: _("in progress"),
    OptionStatus.PAID: _("paid"),  # not a payment state: the msgid
    OptionStatus.REPORTED: _("reported"),  # not a payment state: the msgid
    OptionStatus.RECONCILED: _("reconciled"),  # not a payment state: the msgid
    OptionStatus.EXPIRED: _("expired"),  # not a payment state: the msgid
    OptionStatus.CANCELLED: _("cancelled"),  # not a payment state: the msgid
}

# an anomaly's kind in words (the dashboard's lists and filters, the SLA report and its PDF)
KINDS = {
    "double_payment": _("paid twice"),
    "paid_before_publication": _("paid before publication"),
    "paid_after_cancel": _("paid after cancellation"),
    "paid_after_expiry": _("paid after expiry"),
    "amount_mismatch": _("amount differs from the notice"),
    "standin_receipt": _("Stand-In receipt without activation"),
    "unknown_notice": _("receipt for an unknown notice"),
    "unserved_ec": _("receipt for a body this station does not serve"),
    "station_mismatch": _("receipt through another station"),
    "receipt_ko": _("receipt with a negative outcome"),
    "fdr_refused": _("reporting flow refused"),
    "fdr_entry_without_receipt": _("flow entry without a receipt"),
    "fdr_notice_not_paid": _("flow entry for a notice not paid"),
    "fdr_payment_revoked": _("payment revoked in a flow"),
    "fdr_amount_mismatch": _("flow amount differs from the receipt"),
    "fdr_totals_mismatch": _("flow totals do not add up"),
    "credit_amount_mismatch": _("bank credit differs from the flow"),
    "credit_duplicate": _("bank credit loaded twice"),
    "credit_unknown_flow": _("bank credit for an unknown flow"),
    "credit_without_flow_id": _("bank credit naming no flow"),
    "flow_without_credit": _("flow without a bank credit"),
    "fdr_paid_without_rpt": _("flow entry paid without RPT"),
    "receipt_needs_iur": _("stuck payment: receipt to ask by IUR"),
    "receipt_not_recovered": _("receipt not recovered"),
    "aca_sync_dead": _("ACA feed refused"),
    "aca_upload_dead": _("ACA bulk upload given up"),
}

# why a receipt was to recover (receipt_recovery.reason)
RECOVERY_REASONS = {
    "flow_entry": _("named by a flow entry"),
    "stuck": _("payment stuck in progress"),
    "operator": _("asked by an operator"),
}


def euro(cents: int, lang: str) -> str:
    """12345678 -> ``123.456,78 €`` in Italian and German, ``€123,456.78`` in English."""
    sign = "-" if cents < 0 else ""
    text = f"{abs(cents) // 100:,}.{abs(cents) % 100:02d}"
    if lang == "en":
        return f"{sign}€{text}"
    return f"{sign}{text.replace(',', '_').replace('.', ',').replace('_', '.')} €"


def kind(request: Any, code: str) -> str:
    """An anomaly's kind in the request's language (the code itself when it has no words)."""
    return str(request.localizer.translate(KINDS[code])) if code in KINDS else code


def translator(request: Any) -> Callable[..., str]:
    """``_(msgid, **mapping)`` in the request's language, for texts drawn outside a template
    (the SLA report's PDF and charts: ``hub.sla.contract_report``)."""
    localizer = request.localizer

    def translate(message: str, **mapping: Any) -> str:
        values = {k: str(v) for k, v in mapping.items()}
        translated = localizer.translate(TranslationString(message, domain=DOMAIN))
        return anomaly_details.render(translated, values)

    return translate


def sentence(request: Any, text: str | None) -> str:
    """The detail ``text`` (as stored) as a sentence in the request's language."""
    parsed = anomaly_details.parse(text)
    if parsed is None:
        return text or ""
    localizer = request.localizer
    lang = localizer.locale_name
    values = {name: _value(localizer, lang, name, v) for name, v in parsed.params.items()}
    message = TranslationString(anomaly_details.SENTENCES[parsed.code], domain=DOMAIN)
    # the mapping is applied after translation, by our own interpolation (the same syntax)
    return anomaly_details.render(localizer.translate(message), values)


def _value(localizer: Any, lang: str, name: str, value: Any) -> str:
    if value is None:
        return "-"
    if name.endswith("_cents") and isinstance(value, int):
        return euro(value, lang)
    if name.endswith("_at"):
        try:
            moment = dt.datetime.fromisoformat(str(value))
        except ValueError:
            return str(value)
        return clock.show(moment, zone=True)
    if name.endswith("_on"):
        try:
            day = dt.date.fromisoformat(str(value))
        except ValueError:
            return str(value)
        return day.strftime({"it": "%d/%m/%Y", "de": "%d.%m.%Y"}.get(lang, "%Y-%m-%d"))
    if name == "status" and value in STATES:
        return str(localizer.translate(STATES[value]))
    if name == "recovery_reason" and value in RECOVERY_REASONS:
        return str(localizer.translate(RECOVERY_REASONS[value]))
    return str(value)
