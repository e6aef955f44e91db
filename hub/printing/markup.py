"""Text in ReportLab Paragraphs, shown as text: the one escaper for every PDF we print.

A ``Paragraph`` reads its text as ReportLab's mini-markup: ``<img src="/etc/...">`` would embed
a server file, ``<link href>`` add a link, an unclosed ``<b>`` fail the build. Descriptions,
names and PSP names come from Enti, citizens and pagoPA, so no text we print carries markup:
every Paragraph is built by ``paragraph`` from plain text.
"""

from __future__ import annotations

import re
from typing import Any
from xml.sax.saxutils import escape

from reportlab.platypus import Paragraph

# C0 controls (but tab and newline) and the Unicode non-characters the parser chokes on
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f\ufffe\uffff]")


def plain(text: Any) -> str:
    """``text`` escaped for a Paragraph: markup characters become entities, control
    characters spaces. Never raises for a str (or anything ``str()`` accepts)."""
    return escape(_UNPRINTABLE.sub(" ", str(text)))


def paragraph(text: Any, style: Any) -> Paragraph:
    """A Paragraph showing ``text`` exactly, as text."""
    return Paragraph(plain(text), style)
