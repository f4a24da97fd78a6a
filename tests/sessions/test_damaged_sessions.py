"""One damaged session never breaks ``massgen logs`` for the others, and recorded text is
shown, never executed, by the terminal (real ``massgen`` subprocesses over a sessions dir)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

GOOD_ID = "20261201-100000-aaaaaa"
DAMAGED_ID = "20261201-110000-bbbbbb"


def _event(kind: str, **fields) -> dict:
    return {"type": kind, "run_id": "r1", "seq": 1, "ts": 1764583200.0, "part": 1, **fields}


def _good_events(question: str = "What is 2+2?") -> list[dict]:
    return [
        _event("run_started", question=question, strategy="vote", agents=[]),
        _event("final_answer", content="4", label="agent1", answer_label="agent1.1"),
        _event("run_finished", status="ok", duration_s=1.5, final_answer="4"),
    ]


def _write_session(root: Path, session_id: str, lines: list[bytes]) -> Path:
    path = root / session_id
    (path / "answers").mkdir(parents=True)
    (path / "events.jsonl").write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def _json_lines(events: list[dict]) -> list[bytes]:
    return [json.dumps(e, ensure_ascii=False).encode() for e in events]


def massgen(*args: str, root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "MASSGEN_LOG_DIR": str(root)}
    return subprocess.run(
        [sys.executable, "-m", "massgen", *args],
        env=env,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=60,
    )


DAMAGE = {
    "cut inside a UTF-8 character": lambda lines: [
        *lines,
        '{"type": "text_delta", "text": "caf\u00e9'.encode()[:-1],
    ],
    "binary events": lambda lines: [bytes(range(256)) * 4, *lines],
    "fields of the wrong type": lambda lines: [
        *lines,
        json.dumps(
            _event("run_finished", status=5, duration_s="x", cost_usd=[1], part="p")
        ).encode(),
        json.dumps(_event("winner_selected", tally=[1, 2], label=None, answer_label=3)).encode(),
        json.dumps(_event("text_delta", text=5)).encode(),
    ],
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_event_log_is_read_up_to_what_can_be_read(tmp_path, damage):
    _write_session(tmp_path, GOOD_ID, _json_lines(_good_events()))
    _write_session(tmp_path, DAMAGED_ID, DAMAGE[damage](_json_lines(_good_events("second?"))))
    listing = massgen("logs", root=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert "Traceback" not in listing.stderr
    assert GOOD_ID in listing.stdout and DAMAGED_ID in listing.stdout
    shown = massgen("logs", "show", DAMAGED_ID, root=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "second?" in shown.stdout
    assert "unreadable line" in shown.stdout or "damaged event" in shown.stdout
    replay = massgen("logs", "replay", DAMAGED_ID, "--speed", "0", "--ui", "plain", root=tmp_path)
    assert replay.returncode == 0, replay.stderr
    assert "Traceback" not in replay.stderr
    assert replay.stdout.strip().endswith("4")


@pytest.mark.parametrize(
    "summary",
    [b"\xff\xfe garbage", b"[1, 2, 3]", b'{"id": 7, "parts": 5, "status": []}', b'{"parts": [1]}'],
)
def test_a_garbage_summary_is_rebuilt_from_the_events(tmp_path, summary):
    path = _write_session(tmp_path, DAMAGED_ID, _json_lines(_good_events("rebuilt?")))
    (path / "summary.json").write_bytes(summary)
    listing = massgen("logs", root=tmp_path)
    assert listing.returncode == 0 and "Traceback" not in listing.stderr
    assert "rebuilt?" in listing.stdout
    shown = massgen("logs", "show", DAMAGED_ID, root=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "rebuilt from the events" in shown.stdout
    as_json = json.loads(massgen("logs", "show", DAMAGED_ID, "--json", root=tmp_path).stdout)
    assert as_json["question"] == "rebuilt?"


def test_an_unreadable_session_is_listed_with_the_reason(tmp_path):
    _write_session(tmp_path, GOOD_ID, _json_lines(_good_events()))
    (tmp_path / DAMAGED_ID).mkdir()
    (tmp_path / DAMAGED_ID / "events.jsonl").mkdir()  # a directory where the log should be
    listing = massgen("logs", root=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert GOOD_ID in listing.stdout
    line = next(line for line in listing.stdout.splitlines() if DAMAGED_ID in line)
    assert "unreadable" in line


def test_recorded_terminal_escapes_are_shown_not_executed(tmp_path):
    hostile = "evil \x1b]0;pwned\x07 \x1b[2J \x9b31m done"
    events = _good_events(hostile)
    events[1]["content"] = events[2]["final_answer"] = "answer \x1b[2J"
    path = _write_session(tmp_path, DAMAGED_ID, _json_lines(events))
    (path / "final.md").write_text("answer \x1b[2J")
    for args in (("logs",), ("logs", "show", DAMAGED_ID), ("logs", "show", DAMAGED_ID, "--json")):
        proc = massgen(*args, root=tmp_path)
        assert proc.returncode == 0, proc.stderr
        for control in ("\x1b", "\x07", "\x9b"):
            assert control not in proc.stdout, (args, proc.stdout)
    shown = massgen("logs", "show", DAMAGED_ID, root=tmp_path).stdout
    assert "\\x1b]0;pwned\\x07" in shown  # visible, so the user sees what was there
    assert (
        json.loads(massgen("logs", "show", DAMAGED_ID, "--json", root=tmp_path).stdout)["question"]
        == hostile
    )  # JSON escapes carry the exact value
