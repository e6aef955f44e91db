"""The documentation site builds without a warning, shows what the code says, and the README's
links into docs/ lead somewhere."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
READMES = [ROOT / "README.md"]
# [text](target) and ![alt](target), target up to the first space or closing parenthesis
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)")

spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
assert spec is not None and spec.loader is not None
gen_docs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gen_docs)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(ROOT / "mkdocs.yml"),
            "--site-dir",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    warnings = [line for line in result.stderr.splitlines() if "WARNING" in line]
    assert result.returncode == 0, "mkdocs build --strict failed:\n" + "\n".join(
        warnings or result.stderr.splitlines()[-30:]
    )
    return out


def test_the_site_builds_strict_every_link_anchor_and_nav_entry_resolving(site: Path) -> None:
    assert (site / "index.html").exists()
    for page in (
        "getting-started",
        "operators/dashboard",
        "integrators/rest-api",
        "station",
        "deployment",
        "architecture/state-machine",
        "development",
    ):
        assert (site / page / "index.html").exists(), page


def test_the_state_machine_page_shows_the_machine_of_the_code(site: Path) -> None:
    from workflows.payment import STATES, mermaid

    html = (site / "architecture" / "state-machine" / "index.html").read_text(encoding="utf-8")
    assert '<pre class="mermaid"><code>stateDiagram-v2' in html
    for line in mermaid().splitlines()[2:]:
        assert line.strip().replace(">", "&gt;") in html, line
    for state in STATES:
        assert f"<code>{state}</code>" in html  # the receipt-anomaly table


def test_the_layers_picture_and_the_cli_reference_are_generated(site: Path) -> None:
    home = (site / "index.html").read_text(encoding="utf-8")
    assert '<pre class="mermaid"><code>flowchart TD' in home
    assert "hub --&gt; workflows" in home
    cli = (site / "operators" / "cli" / "index.html").read_text(encoding="utf-8")
    for command in (
        "payhub operator create",
        "payhub sla report",
        "payhub reconcile statement",
        "payhub admin portal update",
    ):
        assert f"Usage: {command}" in cli, command


def test_the_generated_blocks_in_the_markdown_files_are_current() -> None:
    stale = gen_docs.stale(write=False)
    assert not stale, (
        f"stale generated blocks in {[str(p.relative_to(ROOT)) for p in stale]}: "
        "run .venv/bin/python scripts/gen_docs.py"
    )


@pytest.mark.parametrize("readme", READMES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_docs_link_of_the_readme_leads_to_a_file(readme: Path) -> None:
    if not readme.exists():
        pytest.skip(f"{readme.relative_to(ROOT)} is absent")
    # the README is read from the repository root, wherever the file sits now
    targets = {m.split("#")[0] for m in LINK.findall(readme.read_text(encoding="utf-8"))}
    docs_links = sorted(t for t in targets if t.startswith("docs/"))
    assert docs_links or readme.name == "README.md"
    missing = [t for t in docs_links if not (ROOT / t).exists()]
    assert not missing, f"{readme.name} links to missing files: {missing}"
