"""Extract the Python examples of the peer platform's SDK document (Markdown ```` ```python ````
fences) into ``sdk_examples.json``, which ``test_sdk_examples.py`` runs against ``massgen serve``
with only their import lines changed.

    python -m tests.docs.extract_sdk_examples [SDK_DOC]   # default: ../shared/reference/helixagent-sdk.md
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "sdk_examples.json"
DEFAULT_SOURCE = HERE.parents[2] / "shared" / "reference" / "helixagent-sdk.md"
_FENCE = re.compile(r"^```(\w*)\s*$")
_HEADING = re.compile(r"^#{1,6}\s+(.*\S)\s*$")


def extract(path: Path) -> list[dict[str, object]]:
    """Each ``python`` block: its line (of the opening fence), section heading and code."""
    blocks: list[dict[str, object]] = []
    heading, language, start, body = "", None, 0, []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fence = _FENCE.match(line)
        if language is None:
            if fence:
                language, start, body = fence.group(1), number, []
            elif _HEADING.match(line):
                heading = _HEADING.match(line).group(1)  # type: ignore[union-attr]
            continue
        if fence and not fence.group(1):
            if language == "python":
                code = "\n".join(body) + "\n"
                blocks.append({"line": start, "section": heading, "code": code})
            language = None
            continue
        body.append(line)
    return blocks


def main(argv: list[str]) -> None:
    source = Path(argv[0]) if argv else DEFAULT_SOURCE
    OUT.write_text(json.dumps(extract(source), indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main(sys.argv[1:])
