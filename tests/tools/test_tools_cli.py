"""Agents that act, through the ``massgen`` command: one agent with the PyPI reference server
mcp-server-time, one with a custom Python tool from a file next to the config, one without.
Each tool's result ends up in its agent's answer, plain output prints one line per call, the
session keeps each result in a file, and no MCP server process outlives the run. Bad tool
configs are one clear line at --validate and at run start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from tests.fakes.chat_server import CoordinationBrain, FakeChatServer

TOOLS_PY = '''
def lucky_number(name: str) -> int:
    """The lucky number of a name."""
    return 7000 + len(name)
'''


def massgen(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "massgen", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "MASSGEN_LOG_DIR": str(tmp_path / "sessions"), "HOME": str(tmp_path)}


def _servers_started_after(moment: float) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline", "create_time"]):
        line = " ".join(process.info["cmdline"] or [])
        if "mcp-server-time" in line and (process.info["create_time"] or 0) >= moment - 1:
            found.append(process)
    return found


def test_two_agents_use_their_tools_and_no_server_outlives_the_run(env, tmp_path):
    brain = CoordinationBrain(
        tool_plan={
            "mcp__time__get_current_time": {"timezone": "UTC"},
            "lucky_number": {"name": "ada"},
        }
    )
    with FakeChatServer(brain=brain) as fake:
        (tmp_path / "my_tools.py").write_text(TOOLS_PY)
        backend = {"type": "vllm", "model": "m", "base_url": fake.url}
        config = {
            "agents": [
                {
                    "id": "clock",
                    "backend": {
                        **backend,
                        "mcp_servers": [{"name": "time", "command": "mcp-server-time"}],
                    },
                },
                {
                    "id": "lucky",
                    "backend": {
                        **backend,
                        "custom_tools": [{"path": "my_tools.py", "function": "lucky_number"}],
                    },
                },
                {"id": "plain", "backend": backend},
            ]
        }
        path = tmp_path / "team.yaml"
        path.write_text(yaml.safe_dump(config))
        started = time.time()
        proc = massgen(
            "-c", str(path), "--ui", "plain", "What time is it, and my lucky number?", env=env
        )
    assert proc.returncode == 0, proc.stderr
    (session,) = (tmp_path / "sessions").iterdir()
    events = [json.loads(line) for line in (session / "events.jsonl").read_text().splitlines()]
    answers = {e["agent_id"]: e["content"] for e in events if e["type"] == "answer_submitted"}
    assert '"timezone": "UTC"' in answers["clock"]
    assert "7003" in answers["lucky"]
    assert "said" not in answers["plain"]  # the agent without tools used none
    assert "[clock] mcp__time__get_current_time ->" in proc.stderr
    assert "[lucky] lucky_number -> 7003" in proc.stderr
    finished = [e for e in events if e["type"] == "tool_call_finished"]
    assert {e["name"] for e in finished} == {"mcp__time__get_current_time", "lucky_number"}
    for event in finished:
        assert "output" not in event  # the whole result is in its own file
        assert (session / event["output_file"]).read_text()
    assert _servers_started_after(started) == []


@pytest.mark.parametrize(
    ("tools_py", "entry", "message"),
    [
        (
            "def broken(:\n    pass\n",
            {"path": "t.py", "function": "broken"},
            "t.py:1: syntax error",
        ),
        (
            "def one(): ...\ndef two(): ...\n",
            {"path": "t.py", "function": "three"},
            "no function 'three' in",
        ),
        (None, {"path": "missing.py", "function": "f"}, "custom tools file not found"),
        ("def f(*args): ...\n", {"path": "t.py", "function": "f"}, "*args cannot be described"),
    ],
)
def test_a_bad_custom_tool_is_one_line_at_validate_and_at_run_start(
    env, tmp_path, tools_py, entry, message
):
    if tools_py is not None:
        (tmp_path / "t.py").write_text(tools_py)
    config = {"agents": [{"backend": {"type": "vllm", "model": "m", "custom_tools": [entry]}}]}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    for args in (("--validate", str(path)), ("-c", str(path), "--ui", "plain", "q")):
        proc = massgen(*args, env=env)
        assert proc.returncode == 1, (args, proc.stderr)
        assert proc.stderr.startswith("massgen: error: agents[0]") and message in proc.stderr
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    if "three" in message:
        assert "(functions there: one, two)" in proc.stderr


def test_an_mcp_command_that_does_not_exist_is_one_line_at_validate(env, tmp_path):
    config = {
        "agents": [
            {
                "backend": {
                    "type": "vllm",
                    "model": "m",
                    "mcp_servers": [{"name": "weather", "command": "npxx"}],
                }
            }
        ]
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = massgen("--validate", str(path), env=env)
    assert proc.returncode == 1
    assert "mcp_servers[0] (weather): command 'npxx' not found on PATH" in proc.stderr
    assert proc.stderr.count("\n") == 1


STALL_PY = '''
import os
from pathlib import Path


def stall(seconds: float) -> str:
    """Wait for a while."""
    Path(os.environ["STALL_PID_FILE"]).write_text(str(os.getpid()))
    import time

    time.sleep(seconds)
    return "woke up"
'''


def test_a_sync_tool_that_never_returns_does_not_hold_massgen(env, tmp_path):
    """The call times out for the model, and massgen exits when the run ends: the function
    ran in a worker process, which is stopped, not in a thread the interpreter waits for."""
    (tmp_path / "stall_tools.py").write_text(STALL_PY)
    pid_file = tmp_path / "stall.pid"
    config = {
        "agent": {
            "backend": {
                "type": "vllm",
                "model": "m",
                "custom_tools": [{"path": "stall_tools.py", "function": "stall"}],
            }
        },
        "orchestrator": {"tool_timeout_seconds": 1},
    }
    brain = CoordinationBrain(tool_plan={"stall": {"seconds": 3600}})
    with FakeChatServer(brain=brain) as fake:
        config["agent"]["backend"]["base_url"] = fake.url
        path = tmp_path / "stall.yaml"
        path.write_text(yaml.safe_dump(config))
        started = time.monotonic()
        proc = massgen(
            "-c", str(path), "--ui", "plain", "wait", env={**env, "STALL_PID_FILE": str(pid_file)},
            timeout=60,
        )  # fmt: skip
        took = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    assert "stall did not finish within 1s" in proc.stdout
    assert took < 30  # a generous bound: without the fix it is the tool's 3600 s
    tool_pid = int(pid_file.read_text())  # the process the function ran in is gone too
    assert not psutil.pid_exists(tool_pid) or psutil.Process(tool_pid).status() == "zombie"


def _time_server_config(tmp_path: Path, url: str, **names) -> Path:
    config = {
        "agent": {
            "backend": {
                "type": "vllm",
                "model": "m",
                "base_url": url,
                "mcp_servers": [{"name": "time", "command": "mcp-server-time", **names}],
            }
        }
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_mcp_tool_names_in_either_form_and_a_wrong_one_refused_at_validate_and_run_start(
    env, tmp_path
):
    """The README's mcp__time__convert_time works; a typo is one line listing what the
    server has, at --validate and before any model call of a run."""
    with FakeChatServer() as fake:
        good = _time_server_config(tmp_path, fake.url, allowed_tools=["mcp__time__convert_time"])
        proc = massgen("--validate", str(good), env=env)
        assert proc.returncode == 0, proc.stderr
        proc = massgen("-c", str(good), "--ui", "plain", "convert", env=env)
        assert proc.returncode == 0, proc.stderr
        offered = {t["function"]["name"] for t in fake.requests[0].body.get("tools") or ()}
        assert "mcp__time__convert_time" in offered and "mcp__time__get_current_time" not in offered
        requests = len(fake.requests)
        for names in (
            {"allowed_tools": ["mcp__time__convert_tme"]},
            {"exclude_tools": ["get_time"]},
        ):
            bad = _time_server_config(tmp_path, fake.url, **names)
            for args in (("--validate", str(bad)), ("-c", str(bad), "--ui", "plain", "q")):
                proc = massgen(*args, env=env)
                assert proc.returncode == 1, (args, proc.stderr)
                assert proc.stderr.startswith(
                    "massgen: error: agents[0] (agent1): mcp_servers[0] (time): "
                ), proc.stderr
                assert "has no tool" in proc.stderr
                assert "(it has: convert_time, get_current_time)" in proc.stderr or (
                    "did you mean 'convert_time'? it has: convert_time, get_current_time"
                    in proc.stderr
                )
                assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
        assert len(fake.requests) == requests  # refused before any model call


def test_planning_mode_makes_a_side_effect_once_through_the_final_presenter(env, tmp_path):
    """Two agents that both want to append a line: while they coordinate the calls are
    planned (events and answers say so), and the line is appended once, by the presenter."""
    log = tmp_path / "effects.log"
    server = {"name": "own", "command": sys.executable, "args": ["-m", "tests.fakes.mcp_server"]}
    brain = CoordinationBrain(tool_plan={"mcp__own__append": {"log": str(log), "text": "hello"}})
    with FakeChatServer(brain=brain) as fake:
        backend = {"type": "vllm", "model": "m", "base_url": fake.url, "mcp_servers": [server]}
        config = {
            "agents": [{"id": "a", "backend": backend}, {"id": "b", "backend": backend}],
            "orchestrator": {"coordination": {"enable_planning_mode": True}},
        }
        path = tmp_path / "plan.yaml"
        path.write_text(yaml.safe_dump(config))
        proc = massgen("-c", str(path), "--ui", "plain", "Append hello", env=env)
    assert proc.returncode == 0, proc.stderr
    assert log.read_text().splitlines() == ["hello"]
    (session,) = (tmp_path / "sessions").iterdir()
    events = [json.loads(line) for line in (session / "events.jsonl").read_text().splitlines()]
    calls = [e for e in events if e["type"] == "tool_call_finished"]
    made = [e for e in calls if not e["planned"]]
    assert len(made) == 1 and made[0]["result"] == "appended 'hello'"
    assert any(e["planned"] for e in calls)
    answers = [e["content"] for e in events if e["type"] == "answer_submitted"]
    assert all("<PLANNED TOOL CALLS>" in content for content in answers)
    assert "mcp__own__append -> Planned, not made" in proc.stderr
