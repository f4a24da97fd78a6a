"""``massgen --list-examples`` as a real subprocess: every description whole (a sentence, never
cut), wrapped to the terminal's width."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from massgen.config.resolve import list_examples


def listing(columns: int, tmp_path: Path) -> str:
    env = {
        **os.environ,
        "COLUMNS": str(columns),
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "massgen", "--list-examples"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("columns", [50, 80, 120])
def test_descriptions_are_whole_and_wrapped_to_the_width(columns, tmp_path):
    out = listing(columns, tmp_path)
    assert all(len(line) < columns for line in out.splitlines()), out
    flat = " ".join(out.split())
    for example in list_examples():
        assert example.name in out
        assert " ".join(example.description.split()) in flat, example.name


def test_a_wrapped_header_sentence_is_the_whole_description():
    coding = next(e for e in list_examples() if e.name == "coding_team")
    assert coding.description.endswith("in the project you run it from.")
    assert all(e.description.endswith((".", ")")) for e in list_examples()), [
        e.description for e in list_examples()
    ]
