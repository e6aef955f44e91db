"""Render the sample notices shown in the README (needs pdftoppm from poppler-utils).

.venv/bin/python docs/notices/render_samples.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from hub.printing.data import document_of  # noqa: E402
from hub.printing.pdf import render_pdf  # noqa: E402
from tests.hub.printing.conftest import ente, option, position  # noqa: E402


def main() -> None:
    import datetime as dt

    single = document_of(ente(), position(option("300715700000000032", 12_345)))
    plan = document_of(
        ente(),
        position(
            option("300715700000000032", 30_000),
            option("300715700000000133", 10_000, n=1, count=3, due=dt.date(2026, 10, 31)),
            option("300715700000000234", 10_000, n=2, count=3, due=dt.date(2026, 11, 30)),
            option("300715700000000335", 10_000, n=3, count=3, due=dt.date(2026, 12, 31)),
        ),
    )
    samples = {
        "single-it": (single, "it"),
        "single-it-de": (single, "it-de"),
        "plan-it-en": (plan, "it-en"),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, (doc, variant) in samples.items():
            pdf = Path(tmp) / f"{name}.pdf"
            pdf.write_bytes(render_pdf(doc, variant=variant))
            subprocess.run(
                ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "2", str(pdf), str(HERE / name)],
                check=True,
            )
            print(name)


if __name__ == "__main__":
    main()
