"""Pydantic's validation errors as plain sentences that name the field.

Pydantic's own text speaks of its types and regular expressions (``String should match
pattern '^(0|[1-9]\\d{0,8})\\.\\d{2}$'``); people (an integrator reading a problem document, an
operator reading a bulk load's error report, a citizen or an operator filling in a form) need
to know which field is wrong and how to write it.

``sentence`` answers the sentence as a msgid of the catalogues (English, with ``${field}`` and
the other parameters in pyramid's ``${name}`` syntax) and its parameters: the pages translate
it and put the field's label in their language (``web.checkout.i18n.validation_message``).
``plain_message`` is the English sentence with the field's path, for the REST API and the bulk
loads' reports.
"""

from __future__ import annotations

import re
from typing import Any


def _(message: str) -> str:
    """Marks a msgid for the catalogues (pybabel extracts ``_``); translated by the web."""
    return message


# what a field with this pattern expects, in words
_PATTERNS = {
    r"^(0|[1-9][0-9]{0,8})\.[0-9]{2}$": _(
        '${field} must be an amount in euro with two decimals and a dot, as a string, e.g. "12.50"'
    ),
}
_TYPES = {
    "string_type": _("${field} must be a string"),
    "int_type": _("${field} must be a whole number"),
    "bool_type": _("${field} must be true or false"),
    "list_type": _("${field} must be a JSON list"),
    "dict_type": _("${field} must be a JSON object"),
    "model_type": _("${field} must be a JSON object"),
}
_BOUNDS = {
    "greater_than_equal": _("${field} must be at least ${bound}"),
    "less_than_equal": _("${field} must be at most ${bound}"),
    "greater_than": _("${field} must be more than ${bound}"),
    "less_than": _("${field} must be less than ${bound}"),
}
_SIMPLE = {
    "missing": _("${field} is required"),
    "extra_forbidden": _("${field} is not a field of this request"),
    "string_too_long": _("${field} must be at most ${max_length} characters long"),
    "string_too_short": _("${field} must be at least ${min_length} characters long"),
    "too_long": _("${field} must have at most ${max_length} items"),
    "date_from_datetime_parsing": _("${field} must be a date written YYYY-MM-DD"),
    "date_parsing": _("${field} must be a date written YYYY-MM-DD"),
    "date_type": _("${field} must be a date written YYYY-MM-DD"),
    "literal_error": _("${field} must be one of ${expected}"),
}
_NAME = re.compile(r"\$\{([^}]+)\}")


def sentence(error: Any) -> tuple[str, dict[str, str]]:
    """For one pydantic error (a dict of ``ValidationError.errors()``): the English msgid of
    the sentence, with ``${field}`` where the field is named, and the values of its other
    parameters."""
    kind = error.get("type", "")
    ctx = {k: str(v) for k, v in (error.get("ctx") or {}).items()}
    if kind in _SIMPLE:
        return _SIMPLE[kind], ctx
    if kind == "string_pattern_mismatch":
        wanted = _PATTERNS.get(ctx.get("pattern", ""))
        return wanted or _("${field} is not in the expected format"), {}
    if kind == "too_short":
        if ctx.get("min_length") == "1":
            return _("${field} must have at least 1 item"), {}
        return _("${field} must have at least ${min_length} items"), ctx
    if kind in _TYPES:
        return _TYPES[kind], {}
    if kind in _BOUNDS:
        return _BOUNDS[kind], {"bound": next(iter(ctx.values()), "")}
    message = str(error.get("msg", "is not valid")).removeprefix("Value error, ")
    return _("${field}: ${message}"), {"message": message}


def render(message: str, values: dict[str, str]) -> str:
    """``message`` with each ``${name}`` replaced by ``values[name]`` (kept when missing)."""
    return _NAME.sub(lambda m: values.get(m.group(1), m.group(0)), message)


def plain_message(field: str, error: Any) -> str:
    """A sentence naming ``field`` and what is wrong with it, for one pydantic error (a dict
    of ``ValidationError.errors()``), in English."""
    message, values = sentence(error)
    return render(message, {**values, "field": field})
