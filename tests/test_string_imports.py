"""No string import of an upper layer: actors/, hub/ and workflows/ never name a module of
web/, soap/, sla_monitor/ or payhub/ in a string (``"web.api.bulk:api_shape"``,
``"soap.node_client:NodeClient.from_settings"``, ``importlib.import_module("web.x")``).

Layers are import-linter's contracts (pyproject.toml); a string given to importlib escapes
them, so this test reads every string literal of the lower layers. A dotted string of an upper
layer's package that is a ``module:name`` reference, or names a module that exists, fails;
settings keys (``"payhub.broker"``) are neither.
"""

from __future__ import annotations

import ast
import importlib.util
import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOWER = ("actors", "hub", "workflows")
UPPER = ("web", "soap", "sla_monitor", "payhub")
DOTTED = re.compile(rf"^({'|'.join(UPPER)})(\.[A-Za-z_]\w*)+(:[A-Za-z_][\w.]*)?$")
# known, with the reason; remove an entry once the reference is gone
KNOWN = {
    # the worker declares every actor module, the SLA monitor's too; a list filled by payhub/
    # at start-up would need every caller of actors.broker.setup (tests too) to fill it
    ("actors/broker.py", "sla_monitor.actors"),
}


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:
        return False


def upper_references(source: str) -> list[tuple[int, str]]:
    """(line, value) of each string literal naming an upper layer's module."""
    found = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type != tokenize.STRING:
            continue
        try:
            value = ast.literal_eval(token.string)
        except (ValueError, SyntaxError):  # an f-string part, bytes...
            continue
        if not isinstance(value, str) or not DOTTED.match(value):
            continue
        module, colon, _ = value.partition(":")
        if colon or _is_module(module):
            found.append((token.start[0], value))
    return found


def test_the_lower_layers_name_no_upper_module_in_a_string():
    found = [
        f"{path.relative_to(ROOT)}:{line}: {value!r}"
        for package in LOWER
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
        for line, value in upper_references(path.read_text(encoding="utf-8"))
        if (str(path.relative_to(ROOT)), value) not in KNOWN
    ]
    assert not found, "string imports of an upper layer:\n" + "\n".join(found)


def test_the_check_sees_the_patterns_it_forbids():
    source = (
        'SHAPE = "web.api.bulk:api_shape"\n'
        'FACTORY = "soap.node_client:NodeClient.from_settings"\n'
        'importlib.import_module("sla_monitor.actors")\n'
        'KEY = "payhub.broker"\n'
        'TEXT = "web"\n'
        'CAUSE = "soap:paDemandPaymentNotice"\n'
    )
    assert [v for _, v in upper_references(source)] == [
        "web.api.bulk:api_shape",
        "soap.node_client:NodeClient.from_settings",
        "sla_monitor.actors",
    ]
