"""Text people type into names and descriptions: what is refused everywhere.

Control characters (C0, DEL, C1) and the bidirectional embeddings, overrides and isolates
(U+202A-U+202E, U+2066-U+2069) have no place in a name or a description: they hide or reorder
what an operator, a receipt or a PSP shows. Amounts are written as pagoPA writes them: digits
(ASCII only: ``\\d`` would accept Arabic-Indic or fullwidth digits), a dot and two decimals.
"""

from __future__ import annotations

import re

BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
AMOUNT = re.compile(r"(0|[1-9][0-9]{0,8})\.[0-9]{2}")


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be a name or a description, or None."""
    for char in value:
        code = ord(char)
        if code < 0x20 or 0x7F <= code < 0xA0:
            return "control characters are not allowed"
        if char in BIDI_CONTROLS:
            return "direction overrides (U+202A-U+202E, U+2066-U+2069) are not allowed"
    return None


def is_amount(value: object) -> bool:
    """A JSON string such as ``"16.00"``: no number, no exponent, no missing decimals."""
    return isinstance(value, str) and AMOUNT.fullmatch(value) is not None
