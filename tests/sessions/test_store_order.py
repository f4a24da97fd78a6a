"""Sessions newest first, also when two started in the same second (an id names only its
second; the rest is random): ``massgen logs``' "latest" and the session pickers rely on it."""

from __future__ import annotations

import json
from pathlib import Path

from massgen.sessions.store import find_session, session_dirs


def session(root: Path, name: str, first_ts: float) -> Path:
    path = root / name
    path.mkdir(parents=True)
    event = {"type": "run_started", "ts": first_ts, "question": name}
    (path / "events.jsonl").write_text(json.dumps(event) + "\n")
    return path


def test_sessions_of_the_same_second_are_ordered_by_their_first_event(tmp_path: Path):
    older = session(tmp_path, "20261207-014800-ffffff", 1_780_000_000.10)
    newer = session(tmp_path, "20261207-014800-000000", 1_780_000_000.90)
    earlier_second = session(tmp_path, "20261207-014759-ffffff", 1_779_999_999.5)
    assert session_dirs(tmp_path) == [newer, older, earlier_second]
    assert find_session(tmp_path, "latest") == newer
