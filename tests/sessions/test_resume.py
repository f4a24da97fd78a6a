"""``massgen --resume``: with an id, that session's conversation goes on at once (as
``--continue ID``); without one, a list to pick from, which needs a terminal: without one it
is a usage error of one line. Real ``massgen`` processes against the fake server."""

from __future__ import annotations

import json
from pathlib import Path

from massgen.sessions.store import session_dirs
from tests.sessions.test_cli_sessions import massgen, write_team


def sessions(env: dict[str, str]) -> list[Path]:
    """Oldest first, as massgen orders them (two runs of a fast fake provider can start in
    the same second, and an id's rest is random)."""
    return list(reversed(session_dirs(Path(env["MASSGEN_LOG_DIR"]))))


def test_resume_with_an_id_goes_on_with_that_conversation(env, provider, tmp_path):
    team = write_team(tmp_path, provider.url)
    zebra = massgen("-c", str(team), "Name a zebra species", env=env)
    assert zebra.returncode == 0, zebra.stderr
    assert massgen("-c", str(team), "Name a river", env=env).returncode == 0
    older, newer = sessions(env)
    provider.reset()

    run = massgen("--resume", older.name, "How fast does it run?", env=env)
    assert run.returncode == 0, run.stderr
    prompt = json.dumps(provider.requests[0].body["messages"])
    assert "Name a zebra species" in prompt and zebra.stdout.strip() in prompt
    assert "How fast does it run?" in prompt and "Name a river" not in prompt
    assert sessions(env) == [older, newer]  # no new session: the older one's second part
    summary = json.loads((older / "summary.json").read_text())
    assert [p["question"] for p in summary["parts"]] == [
        "Name a zebra species",
        "How fast does it run?",
    ]
    # a prefix of the id will do (its start is the second it began: runs of a fast fake
    # provider share it, so the prefix reaches into the random part)
    again = massgen(f"--resume={older.name[:-2]}", "--ui", "plain", "And a third?", env=env)
    assert again.returncode == 0, again.stderr
    assert len(json.loads((older / "summary.json").read_text())["parts"]) == 3


def test_resume_without_an_id_needs_a_terminal_and_errors_are_one_line(env, provider, tmp_path):
    team = write_team(tmp_path, provider.url)
    assert massgen("-c", str(team), "Name a zebra species", env=env).returncode == 0
    for args in (["--resume", "q"], ["--resume", "--ui", "plain", "q"], ["--resume"]):
        run = massgen(*args, env=env)  # stdin and stdout are pipes: no list to pick from
        assert run.returncode == 1, (args, run.stderr)
        (line,) = run.stderr.splitlines()
        assert line.startswith("massgen: error: --resume without a session id needs")
        assert "massgen logs" in line and run.stdout == ""
    unknown = massgen("--resume", "20990101", "q", env=env)
    assert unknown.returncode == 1
    (line,) = unknown.stderr.splitlines()
    assert line.startswith("massgen: error: no session '20990101'")
    both = massgen("--continue", "--resume", "latest", "q", env=env)
    assert both.returncode == 1
    assert both.stderr.strip() == "massgen: error: use only one of --continue, --resume"
    assert len(sessions(env)) == 1  # nothing was run or recorded
