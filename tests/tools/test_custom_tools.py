"""Custom tools from a config: sync functions run in worker processes, so a call that runs
past its time limit is stopped at once (its process and whatever it started), a function
that crashes its process is an error result, workers are reused between calls and stopped
when the run ends. Sync functions given in Python run in a daemon thread, which never keeps
the interpreter from exiting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest

from massgen.config.tool_config import CustomToolConfig
from massgen.messages import ToolCall
from massgen.tools.base import ToolLimits, close_tools, run_call
from massgen.tools.custom import load_custom_tools
from tests.fakes.chat_server import CoordinationBrain, FakeChatServer
from tests.support.signals import wait_until

TOOLS_PY = '''
import datetime
import os
import subprocess
import sys
import time

from pydantic import BaseModel


class Point(BaseModel):
    x: int
    y: int


def whoami() -> int:
    """This process's id."""
    return os.getpid()


def chatty(text: str) -> str:
    """Prints while it works."""
    print("progress: half way")
    return text.upper()


def broken() -> str:
    """Always fails."""
    raise RuntimeError("the disk\\n is on fire")


def stall(pid_file: str, with_child: bool = False) -> str:
    """Writes its process id (and its child's), then never returns."""
    pids = [os.getpid()]
    if with_child:
        pids.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]).pid)
    with open(pid_file, "w") as f:
        f.write(" ".join(map(str, pids)))
    time.sleep(3600)
    return "woke up"


def die() -> str:
    """Ends its own process."""
    sys.stderr.write("about to die\\n")
    sys.stderr.flush()
    os._exit(7)


def shift(point: Point, when: datetime.date) -> dict:
    """Typed arguments."""
    return {"x": point.x + 1, "y": point.y, "weekday": when.strftime("%A")}
'''


@pytest.fixture
async def tools(tmp_path: Path) -> AsyncIterator[dict]:
    (tmp_path / "my_tools.py").write_text(TOOLS_PY)
    entry = CustomToolConfig(
        path=str(tmp_path / "my_tools.py"),
        function=["whoami", "chatty", "broken", "stall", "die", "shift"],
    )
    loaded = {tool.name: tool for tool in load_custom_tools([entry], "backend")}
    yield loaded
    await close_tools(loaded.values())


async def call(tool, limit: float = 30, **arguments) -> tuple[bool, str]:
    result = await run_call(
        tool, ToolCall("c1", tool.name, json.dumps(arguments)), ToolLimits(timeout_s=limit)
    )
    return result.is_error, result.text


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def test_a_sync_tool_runs_in_a_worker_that_is_reused_and_stopped_at_the_end(tools):
    error, first = await call(tools["whoami"])
    assert not error and int(first) != os.getpid()
    assert await call(tools["whoami"]) == (False, first)  # the same warm worker
    assert await call(tools["chatty"], text="hi") == (False, "HI")  # its print went to stderr
    await close_tools(tools.values())
    assert gone(int(first))
    error, second = await call(tools["whoami"])  # a later run starts a new one
    assert not error and second != first


async def test_a_call_past_its_time_limit_is_stopped_with_what_it_started(tools, tmp_path):
    pid_file = tmp_path / "pids"
    began = time.monotonic()
    error, text = await call(tools["stall"], limit=1, pid_file=str(pid_file), with_child=True)
    assert error and text == "Error: stall did not finish within 1s"
    assert time.monotonic() - began < 10
    worker, child = map(int, pid_file.read_text().split())
    wait_until(lambda: gone(worker) and gone(child), "the worker and its child stopped", 10)


async def test_failures_read_as_they_did_in_process(tools):
    assert await call(tools["broken"]) == (
        True,
        "Error: broken failed: RuntimeError: the disk is on fire",
    )
    error, text = await call(tools["die"])
    assert error and "its process ended during the call (exit status 7)" in text
    assert "its stderr: about to die" in text
    assert await call(tools["chatty"], text="after") == (False, "AFTER")  # a new worker


async def test_typed_arguments_reach_the_worker_as_their_types(tools):
    error, text = await call(tools["shift"], point={"x": 1, "y": 2}, when="2024-01-01")
    assert not error and json.loads(text) == {"x": 2, "y": 2, "weekday": "Monday"}


def test_a_python_functions_call_that_never_returns_does_not_hold_the_process(tmp_path):
    """``massgen.run(tools=[fn])``: the function may be a closure, so it runs in a daemon
    thread; the run ends and so does the interpreter."""
    script = textwrap.dedent(
        """
        import asyncio, sys, time
        import massgen

        def stall(seconds: float) -> str:
            '''Wait.'''
            time.sleep(seconds)
            return "woke"

        config = {"agent": {"backend": {"type": "vllm", "model": "m", "base_url": sys.argv[1]}}}
        result = asyncio.run(massgen.run("wait", config=config, tools=[stall],
                                         enable_filesystem=False, tool_timeout_seconds=1))
        print(result["final_answer"])
        """
    )
    brain = CoordinationBrain(tool_plan={"stall": {"seconds": 3600}})
    with FakeChatServer(brain=brain) as fake:
        began = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-c", script, fake.url],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "stall did not finish within 1s" in proc.stdout
    assert time.monotonic() - began < 30
