"""Checks on the identifiers a debt position carries: IBANs, postal IBANs, fiscal codes.

Used by hub.positions.writer when strict identifiers are asked for (the REST API asks; the
demo seed,
which replays pagoPA's test data with wrong check digits, does not).

Each check is a pure function of its arguments, so its verdict is cached (a bounded LRU): a
bulk load repeats the same few IBANs on every row, and stdnum's IBAN check (country format from
its bank database, then mod 97) is the costliest step of a row.
"""

from __future__ import annotations

from functools import lru_cache

from stdnum import iban as _iban
from stdnum.exceptions import ValidationError
from stdnum.it import codicefiscale, iva

POSTE_ABI = "07601"  # BancoPosta: a postal account's IBAN carries this bank code
CACHE_SIZE = 4096  # verdicts kept per check: bounded, so memory stays flat on any file


@lru_cache(maxsize=CACHE_SIZE)
def iban_problem(value: str) -> str | None:
    """Why ``value`` is not a valid IBAN (mod 97, country format), or None."""
    try:
        _iban.validate(value)
    except ValidationError as exc:
        return f"not a valid IBAN ({exc})"  # the exception's message
    if value != _iban.compact(value):
        return "write the IBAN without spaces, in capitals"
    return None


@lru_cache(maxsize=CACHE_SIZE)
def postal_iban_problem(value: str) -> str | None:
    """Why ``value`` is not an Italian postal (BancoPosta) IBAN, or None."""
    problem = iban_problem(value)
    if problem:
        return problem
    if not value.startswith("IT") or value[5:10] != POSTE_ABI:
        return f"not a postal IBAN (Italian IBAN with bank code {POSTE_ABI})"
    return None


@lru_cache(maxsize=CACHE_SIZE)
def debtor_code_problem(debtor_type: str, value: str) -> str | None:
    """Why ``value`` is not a fiscal code (F: natural person) or a fiscal code / VAT number
    (G: legal person), or None. ``ANONIMO`` is pagoPA's placeholder for an unknown payer."""
    if value == "ANONIMO":
        return None
    if debtor_type == "F" and len(value) == 16:
        return None if codicefiscale.is_valid(value) else "not a valid fiscal code"
    if len(value) == 11 and value.isdigit():
        return None if iva.is_valid(value) else "not a valid VAT number / numeric fiscal code"
    if debtor_type == "G":
        return "a legal person's code is 11 digits (VAT number or numeric fiscal code)"
    return "not a valid fiscal code (16 characters) or VAT number (11 digits)"
