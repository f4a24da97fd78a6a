"""Extract the code examples of the reference documentation (reStructuredText
``.. code-block::`` directives) into ``reference_examples.json``, which the example tests run.

    python -m tests.docs.extract_examples [REFERENCE_DIR]   # default: ../shared/reference

The JSON keeps each block's file, line, language, section heading and code exactly.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "reference_examples.json"
DEFAULT_SOURCE = HERE.parents[2] / "shared" / "reference"
_DIRECTIVE = re.compile(r"^(\s*)\.\. code-block::\s*(\S+)\s*$")
_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+]{3,})\s*$")


def extract(path: Path) -> list[dict[str, object]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[dict[str, object]] = []
    heading = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        underlined = i + 1 < len(lines) and _UNDERLINE.match(lines[i + 1])
        if underlined and line.strip() and len(lines[i + 1].strip()) >= len(line.strip()):
            heading = line.strip()
        match = _DIRECTIVE.match(line)
        if not match:
            i += 1
            continue
        start, indent = i + 1, None
        body: list[str] = []
        i += 1
        while i < len(lines) and (not lines[i].strip() or lines[i].startswith(" ")):
            text = lines[i]
            if text.strip():
                width = len(text) - len(text.lstrip())
                if width <= len(match.group(1)):
                    break
                indent = width if indent is None else min(indent, width)
            body.append(text)
            i += 1
        while body and not body[-1].strip():
            body.pop()
        code = "\n".join(t[indent or 0 :] for t in body if t.strip() or True).strip("\n")
        blocks.append(
            {
                "file": path.name,
                "line": start,
                "language": match.group(2),
                "section": heading,
                "code": code + "\n",
            }
        )
    return blocks


def extract_all(source: Path) -> list[dict[str, object]]:
    return [block for path in sorted(source.glob("*.rst")) for block in extract(path)]


def main() -> None:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SOURCE
    blocks = extract_all(source)
    OUT.write_text(json.dumps(blocks, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(blocks)} examples from {source} -> {OUT}")


if __name__ == "__main__":
    main()
