"""The operators' page describes layout DF01 as the code writes it: the field tables in the
code's order, the example records with as many fields, the CSV example with the code's header,
the manifest example with the code's keys, a test file's marks where the code writes them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import re
from pathlib import Path

from hub.dailyfile import layout

DOC = Path(__file__).resolve().parents[3] / "docs" / "operators" / "daily-file.md"


def _table_fields(text: str, first_content: str) -> list[str]:
    """The ``field`` column of the table whose first row's content is ``first_content``."""
    start = text.index(f"| 1 | `tipo_record` | `{first_content}` |")
    rows = []
    for line in text[start:].splitlines():
        if not line.startswith("|"):
            break
        rows.append(re.match(r"\| (\d+) \| `(\w+)` \|", line))
    assert all(rows) and [int(r.group(1)) for r in rows] == list(range(1, len(rows) + 1))
    return [r.group(2) for r in rows]


def _blocks(text: str, kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", text, flags=re.S)


def test_the_documented_field_tables_are_the_codes_in_order():
    text = DOC.read_text(encoding="utf-8")
    assert _table_fields(text, "D") == [name for name, _ in layout.DETAIL_FIELDS]
    assert _table_fields(text, "R") == [name for name, _ in layout.REFUND_FIELDS]
    assert f"`H|{layout.LAYOUT}|" in text


def test_the_documented_examples_have_the_codes_shape():
    text = DOC.read_text(encoding="utf-8")
    records = [line for block in _blocks(text, "text") for line in block.splitlines()]
    details = [r for r in records if r.startswith("D|")]
    refunds = [r for r in records if r.startswith("R|")]
    assert details and all(len(r.split("|")) == len(layout.DETAIL_FIELDS) for r in details)
    assert refunds and all(len(r.split("|")) == len(layout.REFUND_FIELDS) for r in refunds)
    # the example trailer adds up its example records
    (trailer,) = [r for r in records if r.startswith("T|") and r.count("|") == 2]
    cents = sum(int(r.split("|")[9]) for r in details)
    assert trailer == f"T|{len(details)}|{cents}"
    (csv_header,) = [r for r in records if r.startswith("riga;")]
    assert csv_header.split(";") == list(layout.CSV_HEADER)
    csv_rows = [r for r in records if re.match(r"\d+;RT/", r)]
    assert [r.split(";")[1] for r in csv_rows] == [d.split("|")[17] for d in details]
    (manifest,) = _blocks(text, "json")
    keys = list(json.loads(manifest.replace("…", "")))
    assert keys == [
        "layout", "ente", "service", "business_date", "version", "payments", "receipts",
        "total_cents", "total", "members",
    ]  # fmt: skip


def test_the_documented_test_file_marks_are_the_codes():
    """The page's test file: its name, its eighth header field and its manifest's ``test``
    key where the code writes them; a real file's header keeps its seven fields."""
    text = DOC.read_text(encoding="utf-8")
    flat = " ".join(text.split())
    real = layout.FileHeader("80012345678", "Comune di Esempio", "MENSA", dt.date(2026, 12, 5), 1)
    trial = dataclasses.replace(real, test=True)
    documented = re.findall(r"`(H\|DF01\|80012345678\|[^`]*)`", text)
    assert "|".join(str(v) for v in layout.header_record(trial)) in documented
    assert layout.header_record(trial) == (*layout.header_record(real), layout.TEST_MARKER)
    assert len(layout.header_record(real)) == 7 and layout.TEST_MARKER == "TEST"
    assert f"`{trial.stem}_v1_" in text and f"`PAGAMENTI_{trial.stem}.txt`" in text
    with layout._manifest(trial, 0, 0, io.BytesIO()) as manifest:
        keys = list(json.loads(manifest.read()))
    assert keys[keys.index("version") + 1] == "test"
    assert '`"test": true` in the manifest, after `"version"`' in flat
    with layout._manifest(real, 0, 0, io.BytesIO()) as manifest:
        assert "test" not in json.loads(manifest.read())
