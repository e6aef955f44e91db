"""An anomaly's detail in the reader's language (issue 16).

The hub stores a code and parameters (``hub.values.anomaly_details``); here the code's English
sentence is looked up in the catalogues (domain ``payhub``: the msgids are extracted from
``hub/values``) and its parameters are written for people: amounts Italian-style
(``1.234,50 €``; English ``€1,234.50``), times in Italian time with the zone named, a payment's
state in words. A detail written before codes existed is free text and is shown as it is.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pyramid.i18n import TranslationString

from hub import clock
from hub.values import anomaly_details
from web.checkout.i18n import DOMAIN, _

# a payment option's states, as the dashboard names them (web/ops/templates/_state.jinja2)
STATES = {
    "draft": _("draft"),
    "payable": _("payable"),
    "in_progress": _("in progress"),
    "paid": _("paid"),
    "reported": _("reported"),
    "reconciled": _("reconciled"),
    "expired": _("expired"),
    "cancelled": _("cancelled"),
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
