"""The gettext catalogues: every message extracted from the code is translated into Italian,
and the compiled .mo files are those of the .po files."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[3]
LOCALE = ROOT / "web" / "checkout" / "locale"


def _po(path: Path):
    with path.open("rb") as f:
        return read_po(f)


def test_every_extracted_message_has_an_italian_translation(tmp_path):
    pot = tmp_path / "payhub.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            str(LOCALE.parent / "babel.cfg"),
            "-o",
            str(pot),
            "--no-location",
            "--omit-header",
            "-k",
            "_",
            "web/checkout",
            "web/level1",
            "web/ops",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    wanted = {m.id for m in _po(pot) if m.id}
    italian = _po(LOCALE / "it" / "LC_MESSAGES" / "payhub.po")
    missing = sorted(i for i in wanted if not (italian.get(i) and italian.get(i).string))
    assert missing == []


def test_compiled_catalogues_match_their_sources():
    for lang in ("it", "en"):
        folder = LOCALE / lang / "LC_MESSAGES"
        po = {m.id: m.string for m in _po(folder / "payhub.po") if m.id}
        mo = {
            m.id: m.string for m in read_mo(io.BytesIO((folder / "payhub.mo").read_bytes())) if m.id
        }
        assert mo == po
