"""Session logs written by real ``massgen`` processes, read back with ``massgen logs``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from tests.fakes.chat_server import CoordinationBrain, FakeChatServer, Reply
from tests.sessions.conftest import ENV_KEY
from tests.support.signals import FAULTHANDLER, interrupt, wait_until

CONFIG_KEY = "sk-config-test-7e3b9d1a5c"  # a key written in the config file
SERVER_KEY = "sk-fake-server-key-00112233"


def write_team(tmp_path: Path, url: str, *, key: str | None = None) -> Path:
    """Three agents on the fake server; the first with its key in the file."""
    agents = []
    for i in (1, 2, 3):
        backend: dict[str, Any] = {"type": "vllm", "model": f"m{i}", "base_url": url}
        if key:
            backend["api_key"] = key
        agents.append({"id": f"a{i}", "backend": backend})
    path = tmp_path / "team.yaml"
    path.write_text(yaml.safe_dump({"agents": agents}))
    return path


def massgen(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "massgen", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def only_session(env: dict[str, str]) -> Path:
    sessions = list(Path(env["MASSGEN_LOG_DIR"]).iterdir())
    assert len(sessions) == 1, sessions
    return sessions[0]


def events_of(session: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (session / "events.jsonl").read_text().splitlines()]


def test_a_run_writes_the_whole_session(env, provider, tmp_path):
    team = write_team(tmp_path, provider.url)
    run = massgen("-c", str(team), "What is 2+2?", env=env)
    assert run.returncode == 0, run.stderr
    session = only_session(env)
    assert f"session saved: {session.name}" in run.stderr

    events = events_of(session)
    assert events[0]["type"] == "run_started" and events[-1]["type"] == "run_finished"
    assert {e["part"] for e in events} == {1}
    answers = [e for e in events if e["type"] == "answer_submitted"]
    assert len(answers) == 3
    for answer in answers:
        assert (session / "answers" / f"{answer['label']}.md").read_text() == answer["content"]
    votes = json.loads((session / "votes.json").read_text())
    assert len(votes) == 3 and {v["voter"] for v in votes} == {"a1", "a2", "a3"}
    assert (session / "final.md").read_text().strip() == run.stdout.strip()
    config = yaml.safe_load((session / "config.yaml").read_text())
    assert [a["backend"]["model"] for a in config["agents"]] == ["m1", "m2", "m3"]

    summary = json.loads((session / "summary.json").read_text())
    assert summary["question"] == "What is 2+2?" and summary["strategy"] == "vote"
    assert [(a["id"], a["model"]) for a in summary["agents"]] == [
        ("a1", "m1"),
        ("a2", "m2"),
        ("a3", "m3"),
    ]
    finished = events[-1]
    assert summary["winner"] == finished["winner"] and sum(summary["tally"].values()) == 3
    assert summary["prompt_tokens"] == finished["prompt_tokens"] > 0
    assert summary["cost_usd"] == 0.0 and summary["duration_s"] > 0
    assert summary["status"] == "ok" and summary["exit_status"] == 0

    listing = massgen("logs", env=env)
    assert session.name in listing.stdout and "What is 2+2?" in listing.stdout
    shown = massgen("logs", "show", "latest", "--json", env=env)
    data = json.loads(shown.stdout)
    assert data["id"] == session.name and data["final_answer"].strip() == run.stdout.strip()


def test_no_secret_reaches_any_session_file(env, tmp_path):
    with FakeChatServer(api_key=SERVER_KEY) as keyed:
        team = write_team(tmp_path, keyed.url, key=SERVER_KEY)
        run = massgen(
            "-c",
            str(team),
            f"Repeat after me: {ENV_KEY}",  # even when the question contains one
            env={**env, "SOME_SERVICE_TOKEN": CONFIG_KEY},
        )
        assert run.returncode == 0, run.stderr
        assert keyed.requests  # the key was really used
    session = only_session(env)
    files = [p for p in session.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"events.jsonl", "config.yaml", "summary.json", "final.md"}
    for path in files:
        text = path.read_text()
        for secret in (ENV_KEY, CONFIG_KEY, SERVER_KEY):
            assert secret not in text, f"{secret} in {path.name}"
    assert "[redacted]" in (session / "config.yaml").read_text()


class SlowVotes(CoordinationBrain):
    """Answers at once; votes take a long time (the run is mid-way for a while)."""

    def __call__(self, body: dict[str, Any]) -> Reply:
        reply = super().__call__(body)
        if reply.tool_calls and reply.tool_calls[0][0] == "vote":
            reply.ttft = 30
        return reply


def start_run(env: dict[str, str], team: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "massgen", "-c", str(team), "--ui", "plain", "q"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_answers(env: dict[str, str], count: int) -> Path:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        sessions = list(Path(env["MASSGEN_LOG_DIR"]).glob("*/events.jsonl"))
        if sessions and sessions[0].read_text().count('"answer_submitted"') >= count:
            return sessions[0].parent
        time.sleep(0.05)
    raise AssertionError("the run never got its answers")


def test_sigkill_mid_run_leaves_a_readable_session(env, tmp_path):
    with FakeChatServer(brain=SlowVotes()) as server:
        proc = start_run(env, write_team(tmp_path, server.url))
        session = wait_for_answers(env, 3)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
    lines = (session / "events.jsonl").read_text().splitlines()
    assert all(json.loads(line) for line in lines)  # every complete line parses
    with (session / "events.jsonl").open("a") as handle:
        handle.write('{"type": "text_delta", "te')  # what a kill mid-write would leave

    shown = massgen("logs", "show", "latest", env=env)
    assert shown.returncode == 0, shown.stderr
    assert "interrupted" in shown.stdout and "3 answer(s)" in shown.stdout
    data = json.loads(massgen("logs", "show", session.name, "--json", env=env).stdout)
    assert data["status"] == "interrupted" and data["parts"][0]["answers"] == 3
    listing = massgen("logs", env=env)
    assert "interrupted" in listing.stdout


def test_ctrl_c_marks_the_session_interrupted_and_keeps_everything(env, tmp_path):
    with FakeChatServer() as server:
        server.hold_after(3)  # the three answers; the votes wait until the end
        proc = start_run({**env, **FAULTHANDLER}, write_team(tmp_path, server.url))
        wait_until(lambda: len(server.requests) >= 6, "three answers given, three votes asked")
        session = wait_for_answers(env, 3)
        interrupt(proc)
    assert proc.returncode == 130
    summary = json.loads((session / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["exit_status"] == 130
    assert len(list((session / "answers").iterdir())) == 3
    assert events_of(session)[-1]["type"] == "run_finished"


def test_plain_replay_prints_what_the_live_run_printed(env, provider, tmp_path):
    team = write_team(tmp_path, provider.url)
    live = massgen("-c", str(team), "--ui", "plain", "Why is the sky blue?", env=env)
    assert live.returncode == 0
    replay = massgen("logs", "replay", "latest", "--speed", "0", env=env)
    assert replay.returncode == 0, replay.stderr
    assert replay.stdout == live.stdout
    live_lines = [line for line in live.stderr.splitlines() if "session saved" not in line]
    assert replay.stderr.splitlines() == live_lines


def test_continue_carries_the_history_into_the_next_prompt(env, provider, tmp_path):
    team = write_team(tmp_path, provider.url)
    first = massgen("-c", str(team), "Name a zebra species", env=env)
    assert first.returncode == 0
    session = only_session(env)
    provider.reset()

    second = massgen("--continue", "How fast does it run?", env=env)
    assert second.returncode == 0, second.stderr
    prompt = json.dumps(provider.requests[0].body["messages"])
    assert "Name a zebra species" in prompt and first.stdout.strip() in prompt
    assert "How fast does it run?" in prompt
    assert only_session(env) == session  # the same session, a second part
    summary = json.loads((session / "summary.json").read_text())
    assert [p["question"] for p in summary["parts"]] == [
        "Name a zebra species",
        "How fast does it run?",
    ]
    assert (session / "final.md").read_text().strip() == second.stdout.strip()
    assert any(p.name.startswith("part2.") for p in (session / "answers").iterdir())

    provider.reset()
    third = massgen("--continue", session.name[:15], "And a third?", env=env)
    assert third.returncode == 0, third.stderr
    prompt = json.dumps(provider.requests[0].body["messages"])
    assert "How fast does it run?" in prompt


def test_logs_errors_and_prune(env, provider, tmp_path):
    missing = massgen("logs", "show", "20990101", env=env)
    assert missing.returncode == 1
    assert missing.stderr.startswith("massgen: error: ") and "Traceback" not in missing.stderr
    assert massgen("--continue", "q", env=env).returncode == 1  # nothing to continue yet

    team = write_team(tmp_path, provider.url)
    assert massgen("-c", str(team), "old question", env=env).returncode == 0
    assert massgen("-c", str(team), "new question", "--no-log", env=env).returncode == 0
    old = only_session(env)  # --no-log wrote nothing
    long_ago = time.time() - 40 * 86400
    for path in old.iterdir():
        os.utime(path, (long_ago, long_ago))
    assert massgen("-c", str(team), "recent question", env=env).returncode == 0

    dry = massgen("logs", "prune", "--older-than", "30d", "--dry-run", env=env)
    assert f"Would delete {old.name}" in dry.stdout and old.exists()
    pruned = massgen("logs", "prune", "--older-than", "30d", env=env)
    assert pruned.returncode == 0 and "Deleted 1 session(s)" in pruned.stdout
    remaining = list(Path(env["MASSGEN_LOG_DIR"]).iterdir())
    assert not old.exists() and len(remaining) == 1
    bad = massgen("logs", "prune", "--older-than", "a while", env=env)
    assert bad.returncode == 1 and "invalid age" in bad.stderr


def test_cached_prompt_tokens_are_shown_in_the_summary_and_by_logs_show(env, provider, tmp_path):
    # the voters (one model) share a ~1,500-token prefix: the fake caches it as OpenAI does
    backend = {"type": "vllm", "model": "m", "base_url": provider.url}
    team = tmp_path / "team.yaml"
    team.write_text(
        yaml.safe_dump({"agents": [{"id": f"a{i}", "backend": backend} for i in (1, 2)]})
    )
    run = massgen("-c", str(team), "--ui", "plain", "Explain tides. " * 400, env=env)
    assert run.returncode == 0, run.stderr
    session = only_session(env)
    finished = events_of(session)[-1]
    assert finished["cached_tokens"] >= 2 * 1024
    summary = json.loads((session / "summary.json").read_text())
    assert summary["cached_tokens"] == finished["cached_tokens"]
    cached = f"{finished['cached_tokens']:,}"
    assert f"prompt ({cached} cached) +" in run.stderr
    shown = massgen("logs", "show", "latest", env=env)
    assert f"({cached} prompt tokens cached)" in shown.stdout
