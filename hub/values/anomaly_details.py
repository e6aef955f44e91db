"""An anomaly's detail as a code and its parameters, so that people read it in their language.

The hub opens an anomaly with ``detail(code, **params)``: the text stored in ``anomaly.detail``
is a small JSON object ``{"code": ..., "params": {...}}`` (at most 500 characters). The
dashboard shows it through the catalogues (``web.ops.anomaly_text``: the msgid is the English
sentence of ``SENTENCES``, extracted from this file); the REST API answers the code, the
parameters and the English sentence. Rows written before details had codes hold free English
text: ``parse`` answers None for them and they are shown as they are.

Parameters are plain JSON values; their names say how they are shown: ``*_cents`` an amount
(integer cents), ``*_at`` a UTC time (ISO 8601), ``*_on`` a date (ISO 8601), ``status`` a
payment option's state. No personal data in a detail (support and the Ente's operators read it).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

MAX_CHARS = 500  # the detail column's length


def _(message: str) -> str:
    """Marks a msgid for the catalogues (pybabel extracts ``_``); translated by the web."""
    return message


_FLOW_ENTRY = "flow ${flow} entry IUV ${iuv} IUR ${iur}"
_CREDIT = "bank credit of ${amount_cents} on ${value_on}"

# code -> the English sentence, ${name} for each parameter (pyramid's interpolation syntax)
SENTENCES: dict[str, str] = {
    "receipt_unserved_ec": _(
        "receipt ${receipt} names the body ${ec}, which the delivering intermediary does not serve"
    ),
    "receipt_station_mismatch": _(
        "receipt ${receipt} for the body ${ec} came through a station that does not serve it"
    ),
    "receipt_ko": _("receipt ${receipt} has outcome ${outcome}: stored, nothing settled"),
    "receipt_unknown_notice": _("receipt ${receipt} for notice ${notice}, unknown here"),
    "receipt_standin": _("Stand-In receipt ${receipt} without a paGetPayment of ours"),
    "receipt_other_plan_paid": _(
        "receipt ${receipt} pays notice ${notice} of a debt already paid by another plan "
        "(notice ${others})"
    ),
    "receipt_while_status": _("receipt ${receipt} arrived while the notice was ${status}"),
    "receipt_amount_mismatch": _("receipt amount ${paid_cents}, expected ${expected_cents}"),
    "fdr_totals_mismatch": _(
        "flow ${flow} declares ${declared_count} payments for ${declared_cents}; its entries "
        "are ${computed_count} for ${computed_cents}"
    ),
    "fdr_payment_revoked": _(
        "flow ${flow} entry IUV ${iuv} IUR ${iur}: payment revoked by the PSP"
    ),
    "fdr_paid_without_rpt": _(
        "flow ${flow} entry IUV ${iuv} IUR ${iur}: paid without RPT (code ${outcome_code}), "
        "no receipt here"
    ),
    "fdr_entry_without_receipt": _("flow ${flow} entry IUV ${iuv} IUR ${iur}: no receipt here"),
    "fdr_other_ente_amount": _(
        "flow ${flow} entry IUV ${iuv} IUR ${iur}: ${amount_cents}, the transfer is "
        "${expected_cents}"
    ),
    "fdr_notice_not_paid": _(
        "flow ${flow} entry IUV ${iuv} IUR ${iur}: the receipt's notice is ${status}"
    ),
    "fdr_notice_unknown": _(
        "flow ${flow} entry IUV ${iuv} IUR ${iur}: the receipt's notice is unknown here"
    ),
    "fdr_amount_mismatch": _(
        "flow ${flow} entry IUV ${iuv} IUR ${iur}: ${amount_cents}, transfer ${transfer} is "
        "${expected_cents}"
    ),
    "fdr_refused": _("flow ${flow}: ${reason}"),
    "credit_without_flow_id": _(
        "bank credit of ${amount_cents} on ${value_on} names no reporting flow: ${description}"
    ),
    "credit_unknown_flow": _(
        "bank credit of ${amount_cents} on ${value_on} names flow ${flow}, not received (yet)"
    ),
    "credit_duplicate": _(
        "bank credit of ${amount_cents} on ${value_on}: flow ${flow} was already credited"
    ),
    "credit_amount_mismatch": _(
        "bank credit of ${amount_cents} on ${value_on} for flow ${flow}, whose entries add up "
        "to ${total_cents}"
    ),
    "flow_without_credit": _(
        "flow ${flow} (${total_cents}, settlement ${settlement}) has no bank credit after "
        "${days} days"
    ),
    "receipt_needs_iur": _(
        "payment IUV ${iuv} stuck in progress since ${since_at} and no reporting flow names it "
        "after ${hours} h: pagoPA's receipts service can be asked only by IUR (receiptId), "
        "which only the receipt or a flow gives. Ask the PSP or pagoPA for the receipt, then "
        "use 'Recover this receipt' with its IUR."
    ),
    "receipt_not_recovered": _(
        "no receipt for IUV ${iuv} IUR ${iur} (${recovery_reason}) after ${attempts} tries "
        "since ${since_on}"
    ),
    "aca_sync_dead": _("position ${position}: ACA refused ${attempts} times: ${error}"),
}

_NAME = re.compile(r"\$\{([^}]+)\}")  # as pyramid's TranslationString.interpolate


@dataclass(frozen=True)
class Detail:
    """A parsed detail: its code and parameters."""

    code: str
    params: dict[str, Any]


def detail(code: str, **params: Any) -> str:
    """The text to store in ``anomaly.detail`` for ``code`` with ``params`` (JSON values).
    Long strings are cut so that the whole fits the column. Raises KeyError for an unknown
    code (a sentence must exist for every code), ValueError when no cut can make it fit."""
    SENTENCES[code]
    clean = dict(params)
    text = _dump(code, clean)
    while len(text) > MAX_CHARS:
        texts = [k for k, v in clean.items() if isinstance(v, str) and len(v) > 1]
        if not texts:  # nothing left to cut: the parameters themselves are too many
            raise ValueError(f"the parameters of {code} do not fit {MAX_CHARS} characters")
        longest = max(texts, key=lambda k: len(clean[k]))
        value = clean[longest]
        clean[longest] = value[: max(0, len(value) - (len(text) - MAX_CHARS) - 1)] + "…"
        text = _dump(code, clean)
    return text


def _dump(code: str, params: dict[str, Any]) -> str:
    return json.dumps(
        {"code": code, "params": params}, ensure_ascii=False, sort_keys=True, separators=(",", ":")
    )


def parse(text: str | None) -> Detail | None:
    """The code and parameters of a stored detail; None for free text (rows written before
    details had codes) or a code this version does not know."""
    if not text or not text.startswith("{"):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("code") not in SENTENCES:
        return None
    params = data.get("params")
    return Detail(str(data["code"]), params if isinstance(params, dict) else {})


def english(text: str | None) -> str:
    """The English sentence of a stored detail (free text as it is): for the REST API, the
    logs and anywhere no language is known. Amounts as ``12.50 EUR``, times in UTC."""
    parsed = parse(text)
    if parsed is None:
        return text or ""
    return render(SENTENCES[parsed.code], {k: _plain(k, v) for k, v in parsed.params.items()})


def render(sentence: str, values: dict[str, str]) -> str:
    """``sentence`` with each ``${name}`` replaced by ``values[name]`` (kept when missing)."""
    return _NAME.sub(lambda m: values.get(m.group(1), m.group(0)), sentence)


def _plain(name: str, value: Any) -> str:
    if value is None:
        return "-"
    if name.endswith("_cents") and isinstance(value, int):
        sign = "-" if value < 0 else ""
        return f"{sign}{abs(value) // 100}.{abs(value) % 100:02d} EUR"
    if name.endswith("_at"):
        return f"{str(value).replace('T', ' ')[:16]} UTC"
    return str(value)
