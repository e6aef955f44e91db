"""The one CSV writer of every export: cells a spreadsheet would run are written as text.

A debtor named ``=cmd|' /C calc'!A0`` must reach the operator's spreadsheet as that text, not
as a formula (OWASP "CSV injection"): a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or
a carriage return gets a leading ``'``. Numbers stay numbers: ``-12,50`` (a refund, with the
decimal comma Italian spreadsheets read) and ``+39...`` phone-like values are not formulas
when they are only digits and separators.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import IO, Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?[0-9]+([.,][0-9]+)?$")


def cell(value: Any) -> Any:
    """``value`` as a spreadsheet reads it as text (None -> empty)."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _NUMBER.match(value):
        return "'" + value
    return value


class SafeWriter:
    """``csv.writer`` whose every cell goes through ``cell``."""

    def __init__(self, out: IO[str], **options: Any) -> None:
        self._writer = csv.writer(out, **options)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(out: IO[str], *, spreadsheet: bool = False, **options: Any) -> SafeWriter:
    """A safe writer; ``spreadsheet=True`` is the Italian spreadsheet dialect of the dashboard's
    exports (``;`` between cells, CRLF lines; the caller writes the UTF-8 BOM first)."""
    if spreadsheet:
        options = {"delimiter": ";", "lineterminator": "\r\n", **options}
    return SafeWriter(out, **options)
