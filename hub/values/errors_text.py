"""Pydantic's validation errors as plain sentences that name the field.

Pydantic's own text speaks of its types and regular expressions (``String should match
pattern '^(0|[1-9]\\d{0,8})\\.\\d{2}$'``); people (an integrator reading a problem document, an
operator reading a bulk load's error report) need to know which field is wrong and how to
write it. ``plain_message`` says it once for every input model.
"""

from __future__ import annotations

from typing import Any

# what a field with this pattern expects, in words
_PATTERNS = {
    r"^(0|[1-9][0-9]{0,8})\.[0-9]{2}$": "an amount in euro with two decimals and a dot, "
    'as a string, e.g. "12.50"',
}


def plain_message(field: str, error: Any) -> str:
    """A sentence naming ``field`` and what is wrong with it, for one pydantic error (a dict
    of ``ValidationError.errors()``)."""
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return f"{field} is required"
    if kind == "extra_forbidden":
        return f"{field} is not a field of this request"
    if kind == "string_pattern_mismatch":
        wanted = _PATTERNS.get(str(ctx.get("pattern", "")))
        return f"{field} must be {wanted}" if wanted else f"{field} is not in the expected format"
    if kind == "string_too_long":
        return f"{field} must be at most {ctx.get('max_length')} characters long"
    if kind == "string_too_short":
        return f"{field} must be at least {ctx.get('min_length')} characters long"
    if kind == "too_short":
        n = ctx.get("min_length")
        return f"{field} must have at least {n} item{'s' if n != 1 else ''}"
    if kind == "too_long":
        return f"{field} must have at most {ctx.get('max_length')} items"
    if kind in {"string_type", "int_type", "bool_type", "list_type", "dict_type", "model_type"}:
        wanted = kind.removesuffix("_type").replace("dict", "object").replace("model", "object")
        wanted = {"string": "a string", "int": "a whole number", "bool": "true or false"}.get(
            wanted, f"a JSON {wanted}"
        )
        return f"{field} must be {wanted}"
    if kind in {"greater_than_equal", "less_than_equal", "greater_than", "less_than"}:
        bound = next(iter(ctx.values()), "")
        words = {
            "greater_than_equal": "at least",
            "less_than_equal": "at most",
            "greater_than": "more than",
            "less_than": "less than",
        }[kind]
        return f"{field} must be {words} {bound}"
    if kind in {"date_from_datetime_parsing", "date_parsing", "date_type"}:
        return f"{field} must be a date written YYYY-MM-DD"
    if kind == "literal_error":
        return f"{field} must be one of {ctx.get('expected')}"
    message = str(error.get("msg", "is not valid")).removeprefix("Value error, ")
    return f"{field}: {message}"
