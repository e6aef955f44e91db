"""The documentation's diagrams and references, generated from the code so they cannot go stale.

A page asks for a generated block with a pair of markers::

    <!-- generated:state-machine -->
    (whatever is here is replaced)
    <!-- /generated:state-machine -->

Blocks:

* ``state-machine``: the payment state machine, ``workflows.payment.mermaid()`` in a mermaid fence;
* ``activation-machine``: the activation requests' machine, ``workflows.activation.mermaid()``;
* ``receipt-anomalies``: which anomaly a receipt opens in each state (``anomaly_for_receipt``);
* ``layers``: the packages of ``pyproject.toml`` and the imports between them (read from the
  source with ``ast``: every ``import``/``from … import`` of another package, at any depth), as a
  mermaid flowchart; an arrow means at least one module imports across it;
* ``cli``: the ``payhub`` command line, every command's ``--help`` (build only: the Markdown file
  keeps the block empty, so a reworded help text does not make the file stale).

Used two ways:

* as an MkDocs hook (``hooks: [scripts/gen_docs.py]`` in mkdocs.yml): ``on_page_markdown``
  fills the blocks of every page at build time, so the site always shows the current code;
* as a script, for the copies read on GitHub: ``python scripts/gen_docs.py`` rewrites the blocks
  in README.md and docs/**/*.md where they differ; ``--check`` only reports stale files (exit 1),
  which tests/test_docs.py runs.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
import tomllib
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BLOCK = re.compile(
    r"(?P<open><!-- generated:(?P<name>[a-z-]+) -->\n)"
    r"(?P<body>.*?)"
    r"(?P<close><!-- /generated:(?P=name) -->)",
    re.S,
)


def state_machine() -> str:
    from workflows.payment import mermaid

    return "```mermaid\n" + mermaid().rstrip("\n") + "\n```\n"


def activation_machine() -> str:
    """issue 15: the activation requests' machine (docs/operators/activation.md)."""
    from workflows.activation import mermaid

    return "```mermaid\n" + mermaid().rstrip("\n") + "\n```\n"


def receipt_anomalies() -> str:
    from workflows.payment import STATES, anomaly_for_receipt

    rows = ["| a receipt arrives when the option is | anomaly opened |", "| --- | --- |"]
    for state in STATES:
        anomaly = anomaly_for_receipt(state)
        rows.append(f"| `{state}` | {f'`{anomaly}`' if anomaly else '— (a normal payment)'} |")
    return "\n".join(rows) + "\n"


def packages() -> list[str]:
    """The top-level packages, in the order pyproject.toml lists them."""
    with (ROOT / "pyproject.toml").open("rb") as f:
        include = tomllib.load(f)["tool"]["setuptools"]["packages"]["find"]["include"]
    return [name.rstrip("*").rstrip(".") for name in include]


def imports_between(names: Iterable[str]) -> dict[tuple[str, str], set[str]]:
    """(importer, imported) package pairs, each with the modules that import across it."""
    names = list(names)
    found: dict[tuple[str, str], set[str]] = defaultdict(set)
    for package in names:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    top = module.split(".")[0]
                    if top in names and top != package:
                        found[(package, top)].add(str(path.relative_to(ROOT)))
    return dict(found)


def layers() -> str:
    names = packages()
    edges = imports_between(names)
    lines = ["```mermaid", "flowchart TD"]
    lines += [f'    {name}["{name}/"]' for name in names]
    for importer, imported in sorted(edges):
        lines.append(f"    {importer} --> {imported}")
    alone = [n for n in names if not any(n in pair for pair in edges)]
    for name in alone:
        lines.append(f"    style {name} stroke-dasharray: 5 5")
    lines.append("```")
    return "\n".join(lines) + "\n"


def cli() -> str:
    import click

    from payhub.cli import main

    def walk(command: click.Command, path: list[str], parent: click.Context | None) -> list[str]:
        ctx = click.Context(
            command, info_name=path[-1], parent=parent, terminal_width=100, max_content_width=100
        )
        out = [f"### `{' '.join(path)}`", "", "```text", command.get_help(ctx).rstrip(), "```", ""]
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                if sub is not None and not sub.hidden:
                    out += walk(sub, [*path, name], ctx)
        return out

    return "\n".join(walk(main, ["payhub"], None))


GENERATORS: dict[str, Callable[[], str]] = {
    "state-machine": state_machine,
    "receipt-anomalies": receipt_anomalies,
    "layers": layers,
    "cli": cli,
    "activation-machine": activation_machine,  # issue 15
}
BUILD_ONLY = frozenset({"cli"})  # filled in the site, left empty in the Markdown files


def render(text: str, cache: dict[str, str] | None = None, *, build: bool = True) -> str:
    """``text`` with every generated block filled with what the code says today (``build``:
    for the site; otherwise for the Markdown files, where build-only blocks stay empty)."""
    cache = {} if cache is None else cache

    def fill(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in GENERATORS:
            raise ValueError(f"unknown generated block {name!r} (known: {', '.join(GENERATORS)})")
        if name in BUILD_ONLY and not build:
            return match["open"] + match["close"]
        if name not in cache:
            cache[name] = GENERATORS[name]()
        return match["open"] + cache[name] + match["close"]

    return BLOCK.sub(fill, text)


def documents() -> list[Path]:
    return [p for p in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))] if p.exists()]


def stale(write: bool) -> list[Path]:
    cache: dict[str, str] = {}
    out = []
    for path in documents():
        text = path.read_text(encoding="utf-8")
        if not BLOCK.search(text):
            continue
        new = render(text, cache, build=False)
        if new != text:
            out.append(path)
            if write:
                path.write_text(new, encoding="utf-8")
    return out


# --- MkDocs hook -------------------------------------------------------------------------

_build_cache: dict[str, str] = {}


def on_pre_build(config: object) -> None:
    _build_cache.clear()  # `mkdocs serve`: each rebuild reads the code afresh


def on_page_markdown(markdown: str, page: object, config: object, files: object) -> str:
    return render(markdown, _build_cache)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only list stale files (exit 1)")
    args = parser.parse_args(argv)
    changed = stale(write=not args.check)
    for path in changed:
        verb = "stale" if args.check else "updated"
        print(f"{verb}: {path.relative_to(ROOT)}")
    if args.check and changed:
        print("run: .venv/bin/python scripts/gen_docs.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
