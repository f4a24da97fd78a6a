"""The README's backend options table says where each option applies: the same as the table
the config loader checks (``massgen.backends.registry.OPTIONS``)."""

from __future__ import annotations

import re
from pathlib import Path

from massgen.providers import OPTIONS, applies_to

README = Path(__file__).resolve().parents[2] / "README.md"


def _table() -> dict[str, str]:
    text = README.read_text(encoding="utf-8")
    rows = text.split("<!-- backend-options", 1)[1].split("\n\n", 1)[0].splitlines()
    found = {}
    for row in rows:
        match = re.match(r"\| `(\w+)` \| ([^|]+) \|", row)
        if match:
            found[match.group(1)] = match.group(2).strip()
    return found


def test_the_readme_lists_every_option_where_the_loader_accepts_it() -> None:
    table = _table()
    assert list(table) == list(OPTIONS)
    assert {name: applies_to(name) for name in OPTIONS} == table


def test_applies_to_names_every_type_an_option_applies_to() -> None:
    assert applies_to("safety_settings") == "gemini"
    assert applies_to("seed") == "every type but ag2, claude, claude_code, codex, openai"
    assert applies_to("extra_body") == "chatcompletion and its presets"
