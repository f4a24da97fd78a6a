"""Broken and hostile input at the command line: each reproduction of the hardening issue as a
real ``massgen`` subprocess (one readable line, the right exit code, nothing lost)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fakes.chat_server import FakeChatServer, Reply

ENV_TOKEN = "ghp_secret_token_0123456789abcdef"


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeChatServer]:
    with FakeChatServer() as server:
        yield server


@pytest.fixture
def env(tmp_path: Path, provider: FakeChatServer) -> dict[str, str]:
    provider.reset()
    base = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_TOKEN"))}
    base.update(
        HOME=str(tmp_path / "home"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        MASSGEN_LOG_DIR=str(tmp_path / "sessions"),
        GITHUB_TOKEN=ENV_TOKEN,
        PYTHONUNBUFFERED="1",
    )
    return base


def massgen(*args: str | bytes, env: dict[str, str], timeout: float = 60, **kw: Any):
    return subprocess.run(
        [sys.executable, "-m", "massgen", *args],
        env=env,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
        **kw,
    )


def team(tmp_path: Path, url: str, n: int = 3, **backend: Any) -> Path:
    agents = [
        {"id": f"a{i}", "backend": {"type": "vllm", "model": "m", "base_url": url, **backend}}
        for i in range(1, n + 1)
    ]
    path = tmp_path / "team.yaml"
    path.write_text(yaml.safe_dump({"agents": agents}))
    return path


def events(env: dict[str, str]) -> list[dict[str, Any]]:
    (session,) = Path(env["MASSGEN_LOG_DIR"]).iterdir()
    return [json.loads(line) for line in (session / "events.jsonl").read_text().splitlines()]


# ---------------------------------------------------------------- non-UTF-8 input (item 4)


def test_a_question_with_bytes_that_are_not_utf8_still_runs(env, provider, tmp_path):
    proc = massgen(
        "-c", str(team(tmp_path, provider.url)), "--ui", "plain", b"bad \xff byte", env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "listener" not in proc.stderr
    started = [e for e in events(env) if e["type"] == "run_started"]
    assert started and started[0]["question"] == "bad \ufffd byte"


def test_bytes_on_stdin_that_are_not_utf8_still_run(env, provider, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "massgen", "-c", str(team(tmp_path, provider.url)), "--ui", "plain"],
        env=env,
        input=b"q \xfe\xff?",
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert events(env)[0]["question"] == "q \ufffd\ufffd?"


# ---------------------------------------------------------------- escapes (item 6)


def test_plain_output_shows_terminal_escapes_instead_of_running_them(env, provider, tmp_path):
    answer = Reply(tool_calls=[("new_answer", json.dumps({"content": "first \x1b]0;pwned\x07"}))])
    other = Reply(tool_calls=[("new_answer", json.dumps({"content": "second"}))])
    vote = Reply(tool_calls=[("vote", json.dumps({"agent_id": "agent1", "reason": "ok \x1b[2J"}))])
    provider.enqueue(answer, other, vote, vote)
    proc = massgen("-c", str(team(tmp_path, provider.url, n=2)), "--ui", "plain", "hi", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "voted for agent1" in proc.stderr
    assert "ok \\x1b[2J" in proc.stderr  # shown, not run
    assert "\x1b" not in proc.stderr and "\x07" not in proc.stderr


# ---------------------------------------------------------------- disk full (item 7)


def _tiny_filesystem_available() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(
        ["unshare", "-Urm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt && true"],
        capture_output=True,
        timeout=20,
    )
    return probe.returncode == 0


@pytest.mark.skipif(
    not _tiny_filesystem_available(), reason="needs unshare and tmpfs in a user namespace"
)
def test_a_full_disk_turns_the_log_off_and_keeps_the_answer(env, provider, tmp_path):
    config = team(tmp_path, provider.url)
    # the session log lives on a 48 KiB tmpfs that the run fills up
    script = (
        'mount -t tmpfs -o size=48k tmpfs "$LOGS" && '
        f'exec {sys.executable} -m massgen -c {config} --ui plain "{"long question " * 900}"'
    )
    logs = tmp_path / "logs"
    logs.mkdir()
    proc = subprocess.run(
        ["unshare", "-Urm", "sh", "-c", script],
        env={**env, "LOGS": str(logs), "MASSGEN_LOG_DIR": str(logs)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()  # the answer
    assert proc.stderr.count("session log stopped") == 1
    assert "No space left on device" in proc.stderr
    assert "massgen: error" not in proc.stderr


# ---------------------------------------------------------------- bad config bytes (item 8)


@pytest.mark.parametrize("byte", [b"\x00", b"\x1b"])
def test_a_control_byte_in_a_config_is_a_located_config_error(env, tmp_path, byte):
    path = tmp_path / "bad.yaml"
    path.write_bytes(b"agents:\n  - backend: {type: vllm, model: m" + byte + b"}\n")
    proc = massgen("-c", str(path), "q", env=env)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"massgen: error: {path}:2: invalid YAML: control character")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_a_yaml_alias_bomb_is_refused_quickly(env, tmp_path):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{','.join(['*' + prev] * 9)}]")
    lines.append("agents: [*i]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    started = time.monotonic()
    proc = massgen("--validate", str(path), env=env)
    assert time.monotonic() - started < 10  # the interpreter's start included
    assert proc.returncode == 1
    assert f"{path}:" in proc.stderr and "config too large" in proc.stderr
    assert "MemoryError" not in proc.stderr and "Traceback" not in proc.stderr


# ---------------------------------------------------------------- exit codes (item 10)


@pytest.mark.parametrize(
    "args",
    [
        ("--ui", "bogus", "q"),
        ("--no-such-option", "q"),
        ("--timeout", "abc", "q"),
        ("logs", "replay", "--speed", "-1"),
        ("logs", "show", "no-such-session"),
        ("logs", "--no-such-option"),
    ],
)
def test_usage_errors_exit_1_with_one_line(env, tmp_path, args):
    proc = massgen(*args, env=env)
    assert proc.returncode == 1, (args, proc.returncode, proc.stderr)
    assert proc.stderr.startswith("massgen: error: ")
    assert proc.stderr.count("\n") == 1, proc.stderr


@pytest.mark.parametrize("ui", ["plain", "json"])
def test_a_run_where_every_agent_fails_exits_2(env, tmp_path, ui):
    config = team(tmp_path, "http://127.0.0.1:9/v1", max_retries=0)
    proc = massgen("-c", str(config), "--ui", ui, "q", env=env)
    assert proc.returncode == 2, proc.stderr


@pytest.mark.parametrize("ui", ["plain", "json"])
def test_a_timeout_exits_3(env, provider, tmp_path, ui):
    provider.enqueue(*[Reply(text="slow", ttft=5.0)] * 3)
    proc = massgen(
        "-c", str(team(tmp_path, provider.url)), "--ui", ui, "--timeout", "1", "q", env=env
    )
    assert proc.returncode == 3, proc.stderr


def test_replay_and_logs_exit_0_when_they_do_their_job(env, provider, tmp_path):
    assert massgen("-c", str(team(tmp_path, provider.url)), "q", env=env).returncode == 0
    assert massgen("logs", env=env).returncode == 0
    assert massgen("logs", "show", "latest", env=env).returncode == 0
    replay = massgen("logs", "replay", "latest", "--speed", "0", "--ui", "json", env=env)
    assert replay.returncode == 0 and '"run_finished"' in replay.stdout


# ---------------------------------------------------------------- validation (item 11)


@pytest.mark.parametrize("value", ["-5", "0", "nan", "inf"])
def test_a_timeout_that_is_not_a_positive_number_is_refused(env, provider, tmp_path, value):
    proc = massgen("-c", str(team(tmp_path, provider.url)), "--timeout", value, "q", env=env)
    assert proc.returncode == 1
    assert "--timeout: must be a positive number of seconds" in proc.stderr
    assert not provider.requests  # no run started


@pytest.mark.parametrize(
    ("backend", "message"),
    [
        ("{type: vllm}", "agents[0].backend: missing required key 'model'"),
        ("{type: vllm, model: m, base_url: 'not a url'}", "base_url: must be an http:// or"),
        ("{type: vllm, model: m, timeout: true}", "timeout: expected a number, got true"),
    ],
)
def test_validate_catches_what_would_break_a_run(env, tmp_path, backend, message):
    path = tmp_path / "c.yaml"
    path.write_text(f"agents:\n  - backend: {backend}\n")
    proc = massgen("--validate", str(path), env=env)
    assert proc.returncode == 1
    assert f"{path}:2: " in proc.stderr and message in proc.stderr


def test_orchestrator_booleans_are_not_numbers(env, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "orchestrator: {timeout_seconds: true}\nagents:\n  - backend: {type: vllm, model: m}\n"
    )
    proc = massgen("--validate", str(path), env=env)
    assert proc.returncode == 1
    assert f"{path}:1: orchestrator.timeout_seconds: expected a number, got true" in proc.stderr


def test_an_integer_key_is_reported_with_its_line(env, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("agents:\n  - backend: {type: vllm, model: m}\n    5: x\n")
    proc = massgen("--validate", str(path), env=env)
    assert proc.returncode == 1
    assert f"{path}:3: agents[0].5: unknown key '5'" in proc.stderr


def test_validate_checks_that_the_local_model_can_run(env, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("agents:\n  - backend: {type: local, model_path: /no/such/model.gguf}\n")
    proc = massgen("--validate", str(path), env=env)
    assert proc.returncode == 1
    assert "local model file not found: /no/such/model.gguf" in proc.stderr
    # without llama-cpp-python, --validate says so instead of "ok"
    code = (
        "import sys; sys.modules['llama_cpp'] = None\n"
        "import importlib.util; real = importlib.util.find_spec\n"
        "importlib.util.find_spec = lambda n, *a: None if n == 'llama_cpp' else real(n, *a)\n"
        f"sys.argv = ['massgen', '--validate', {str(path)!r}]\n"
        "from massgen.cli import main; main()"
    )
    path.write_text("agents:\n  - backend: {type: local}\n")
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1
    assert "the local backend needs llama-cpp-python" in proc.stderr


# ---------------------------------------------------------------- backend.timeout (item 12)


def test_backend_timeout_bounds_a_whole_request(env, provider, tmp_path):
    trickle = Reply(text="x " * 200, ttft=0.0, tokens_per_second=1.0)
    provider.enqueue(trickle, trickle)
    config = team(tmp_path, provider.url, n=1, timeout=2, max_retries=0)
    started = time.monotonic()
    proc = massgen("-c", str(config), "--ui", "plain", "q", env=env)
    elapsed = time.monotonic() - started
    assert proc.returncode == 2, proc.stderr
    assert "did not finish within 2s" in proc.stderr
    assert elapsed < 15  # not the 300 s turn timeout


# ---------------------------------------------------------------- secrets (item 13)


@pytest.mark.parametrize("ui", ["plain", "json"])
def test_a_token_inside_base_url_never_reaches_the_terminal(env, tmp_path, ui):
    path = tmp_path / "c.yaml"
    path.write_text(
        "agents:\n  - backend: {type: vllm, model: m, max_retries: 0,\n"
        "      base_url: 'http://127.0.0.1:9/v1?token=${GITHUB_TOKEN}'}\n"
    )
    proc = massgen("-c", str(path), "--ui", ui, "q", env=env)
    assert proc.returncode == 2
    assert ENV_TOKEN not in proc.stderr and ENV_TOKEN not in proc.stdout
    assert "[redacted]" in proc.stderr + proc.stdout


# ---------------------------------------------------------------- small (item 15)


def test_init_non_interactive_ends_with_a_newline_and_warns_of_a_missing_key(env, tmp_path):
    proc = massgen(
        "--init", "--non-interactive", "--models", "openai/gpt-5-mini", "--save", "t", env=env
    )
    assert proc.returncode == 0, proc.stderr
    saved = Path(env["XDG_CONFIG_HOME"]) / "massgen" / "agents" / "t.yaml"
    assert saved.read_text().endswith("\n")
    assert (
        "warning: agents[0] (gpt-5-mini): no API key for OpenAI: set OPENAI_API_KEY" in proc.stderr
    )


def test_a_three_way_tie_says_how_it_was_broken(env, provider, tmp_path):
    for target in ("agent1", "agent2", "agent3"):
        provider.enqueue_for(
            "m", Reply(tool_calls=[("new_answer", json.dumps({"content": f"answer {target}"}))])
        )
    for target in ("agent1", "agent2", "agent3"):
        provider.enqueue_for(
            "m", Reply(tool_calls=[("vote", json.dumps({"agent_id": target, "reason": "r"}))])
        )
    proc = massgen("-c", str(team(tmp_path, provider.url)), "--ui", "plain", "q", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "with 1 of 3 votes, tie broken by the earliest answer" in proc.stderr
