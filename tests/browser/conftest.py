"""Browser tests: Playwright for Python driving Debian's Chromium (/usr/bin/chromium, installed
by scripts/ensure-chromium.sh; never ``playwright install``) against ``payhub serve`` in the
embedded default (SQLite, stub broker with an in-process worker, nodesim mounted at /sim), on a
free port with an .ini in a temporary folder, as ``make demo`` runs it.

``PAYHUB_SCREENSHOTS=docs`` writes the screenshots to docs/screenshots (the README shows them);
otherwise they go to the test's temporary folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, embedded_demo

CHROMIUM = Path("/usr/bin/chromium")


@dataclass
class Demo:
    base: str
    db: Path
    ini: Path
    shots: Path


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Iterator[Demo]:
    tmp = tmp_path_factory.mktemp("demo")
    with embedded_demo(tmp, "payhub") as (base, db, ini):
        shots = (
            ROOT / "docs" / "screenshots"
            if os.environ.get("PAYHUB_SCREENSHOTS") == "docs"
            else tmp / "shots"
        )
        shots.mkdir(parents=True, exist_ok=True)
        yield Demo(base, db, ini, shots)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is missing: run scripts/ensure-chromium.sh")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser) -> Iterator[object]:
    # bypass_csp: the pages' Content-Security-Policy forbids inline scripts, and the test
    # injects axe-core as one (the pages themselves are served with the policy unchanged)
    context = browser.new_context(
        locale="it-IT", viewport={"width": 1200, "height": 900}, bypass_csp=True
    )
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


@pytest.fixture(scope="session")
def axe_js() -> str:
    """axe-core (npm ``axe-core@4``) installed once into a cache directory; its axe.min.js."""
    import shutil
    import subprocess

    npm = shutil.which("npm")
    if not npm:
        pytest.skip("npm is not installed: cannot install axe-core for the accessibility checks")
    cache = Path.home() / ".cache" / "payhub-npm" / "axe-core-4"
    script = cache / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists():
        cache.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--prefix", str(cache), "axe-core@4"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0 or not script.exists():
            pytest.skip(f"npm install axe-core@4 failed: {done.stderr[-300:]}")
    return script.read_text(encoding="utf-8")
