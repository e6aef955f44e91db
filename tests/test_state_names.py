"""No payment state is spelled as a string outside workflows/: code names states through
``workflows.payment.OptionStatus`` / ``PositionStatus`` and the sets derived from the machine.

Every .py file of the project is tokenized; a string literal whose value is a state name fails
the test, unless the word means something else there (a cart's outcome, a JSON field, a count)
and a comment on that line, or on the line above, says ``not a payment state``. The migrations
keep their literals (they are history); templates and translations use the values passed in.
"""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

from workflows.payment import OptionStatus, PositionStatus

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("hub", "actors", "web", "soap", "sla_monitor", "payhub", "workflows")
EXEMPT = ("workflows/", "hub/migrations/")
MARKER = "not a payment state"
NAMES = {s.value for s in OptionStatus} | {s.value for s in PositionStatus}


def state_literals(source: str) -> list[tuple[int, str]]:
    """(line, value) of each string literal naming a state without the marker."""
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    marked = {t.start[0] for t in tokens if t.type == tokenize.COMMENT and MARKER in t.string}
    found = []
    for token in tokens:
        if token.type != tokenize.STRING:
            continue
        try:
            value = ast.literal_eval(token.string)
        except (ValueError, SyntaxError):  # an f-string part, bytes...
            continue
        line = token.start[0]
        if value in NAMES and line not in marked and line - 1 not in marked:
            found.append((line, value))
    return found


def test_the_scan_finds_a_bare_state_and_honours_the_marker() -> None:
    source = (
        'if option.status == "paid":\n'
        "    pass\n"
        'outcome = "paid"  # the cart\'s, not a payment state\n'
        "# a JSON field, not a payment state\n"
        'body = {"paid": True}\n'
        'label = f"paid {x}"\n'
    )
    assert state_literals(source) == [(1, "paid")]


def test_no_state_name_is_spelled_outside_workflows() -> None:
    offenders = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith(EXEMPT):
                continue
            for line, value in state_literals(path.read_text(encoding="utf-8")):
                offenders.append(f"{rel}:{line}: {value!r}")
    assert not offenders, (
        "state names spelled as strings (use workflows.payment.OptionStatus or a set derived "
        "from the machine; if the word means something else, say '# not a payment state'):\n"
        + "\n".join(offenders)
    )
