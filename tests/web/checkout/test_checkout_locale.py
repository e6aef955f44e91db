"""The gettext catalogues: every message extracted from the code is translated in every
language of the pages (Italian, English, German), and the compiled .mo files are those of the
.po files. A missing translation fails naming the catalogue and each missing msgid."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from web.checkout.i18n import LANGUAGES

ROOT = Path(__file__).resolve().parents[3]
LOCALE = ROOT / "web" / "checkout" / "locale"


def _po(path: Path):
    with path.open("rb") as f:
        return read_po(f)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory) -> set[str]:
    """Every message the code and templates ask to translate (extracted as the README says)."""
    pot = tmp_path_factory.mktemp("pot") / "payhub.pot"
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
            "hub/values",  # anomaly details and validation sentences (issue 16)
            "hub/sla",  # the SLA report's PDF and charts
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return {m.id for m in _po(pot) if m.id}


def test_every_language_of_the_pages_has_a_catalogue():
    assert set(LANGUAGES) == {"it", "en", "de"}
    for lang in LANGUAGES:
        assert (LOCALE / lang / "LC_MESSAGES" / "payhub.po").is_file(), f"no catalogue for {lang}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_extracted_message_is_translated_in_every_catalogue(extracted, lang):
    """Each message of the pages has a non-empty translation in ``lang``'s catalogue. Strings
    added since the catalogues were last updated show up here by their msgid: run the README's
    pybabel extract / update, translate them, compile."""
    catalogue = _po(LOCALE / lang / "LC_MESSAGES" / "payhub.po")
    missing = sorted(i for i in extracted if not (catalogue.get(i) and catalogue.get(i).string))
    listing = "\n".join(f"  msgid {m!r}" for m in missing)
    assert not missing, (
        f"{len(missing)} message(s) not translated in web/checkout/locale/{lang}/LC_MESSAGES/"
        f"payhub.po:\n{listing}"
    )


def test_compiled_catalogues_match_their_sources():
    for lang in LANGUAGES:
        folder = LOCALE / lang / "LC_MESSAGES"
        po = {m.id: m.string for m in _po(folder / "payhub.po") if m.id}
        mo = {
            m.id: m.string for m in read_mo(io.BytesIO((folder / "payhub.mo").read_bytes())) if m.id
        }
        assert mo == po
