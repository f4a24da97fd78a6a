"""Reading sessions back: damaged files, lookups, ages."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest

from massgen.errors import ConfigurationError
from massgen.redaction import Redactor
from massgen.sessions import store


def write_session(root: Path, name: str, events: list[dict], summary: dict | None = None) -> Path:
    path = root / name
    path.mkdir(parents=True)
    (path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    if summary is not None:
        (path / "summary.json").write_text(json.dumps(summary))
    return path


EVENTS = [
    {"type": "run_started", "ts": 1.0, "part": 1, "question": "q?", "strategy": "vote",
     "agents": [{"id": "a1", "label": "agent1", "model": "m", "backend": "vllm"}]},
    {"type": "answer_submitted", "ts": 2.0, "part": 1, "agent_id": "a1", "label": "agent1.1",
     "content": "A"},
    {"type": "winner_selected", "ts": 3.0, "part": 1, "agent_id": "a1", "label": "agent1",
     "answer_label": "agent1.1", "tally": {"agent1": 1}},
]  # fmt: skip


def test_a_missing_summary_is_rebuilt_from_the_events_and_a_torn_line_is_skipped(tmp_path):
    path = write_session(tmp_path, "20261121-100000-aaaaaa", EVENTS)
    with (path / "events.jsonl").open("a") as handle:
        handle.write('{"type": "vote_ca')
    events, bad = store.read_events(path)
    assert len(events) == 3 and bad == 1
    summary = store.load_summary(path)
    assert summary["recovered"] and summary["status"] == "interrupted"
    assert summary["question"] == "q?" and summary["tally"] == {"a1": 1}
    assert summary["parts"][0]["answers"] == 1 and summary["parts"][0]["status"] == "interrupted"


def test_a_running_session_of_a_live_process_stays_running(tmp_path):
    alive = {"id": "x", "status": "running", "pid": os.getpid(), "parts": []}
    path = write_session(tmp_path, "20261121-100000-bbbbbb", EVENTS, alive)
    assert store.load_summary(path)["status"] == "running"


def test_find_session_by_latest_prefix_and_ambiguity(tmp_path):
    for name in ("20261120-090000-aaaaaa", "20261121-090000-bbbbbb", "20261121-100000-cccccc"):
        write_session(tmp_path, name, EVENTS)
    assert store.find_session(tmp_path, "latest").name == "20261121-100000-cccccc"
    assert store.find_session(tmp_path, "20261120").name == "20261120-090000-aaaaaa"
    with pytest.raises(store.SessionNotFoundError, match="matches 2 sessions"):
        store.find_session(tmp_path, "20261121")
    with pytest.raises(store.SessionNotFoundError, match="no session 'nope'"):
        store.find_session(tmp_path, "nope")


def test_ages_and_references():
    assert store.parse_age("30d") == timedelta(days=30)
    assert store.parse_age("12h") == timedelta(hours=12)
    with pytest.raises(ConfigurationError, match="invalid age"):
        store.parse_age("soon")
    assert store.REF_PATTERN.match("latest") and store.REF_PATTERN.match("20261121-1000")
    assert not store.REF_PATTERN.match("Why is the sky blue?")


def test_redactor_replaces_every_secret_and_leaves_short_values():
    redact = Redactor(["sk-abcdefgh12345", "sk-abcdefgh", "abc"])
    assert redact("key sk-abcdefgh12345 and sk-abcdefgh; abc") == (
        "key [redacted] and [redacted]; abc"
    )
