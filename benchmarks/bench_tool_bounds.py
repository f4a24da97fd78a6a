"""How closely tools keep their bounds, and what the worker processes of sync tools cost.

    python benchmarks/bench_tool_bounds.py [--repeat 5]

1. MCP ``startup_timeout_seconds: 2`` with a server that never answers: the time from the
   hub's start to the "did not start" notice, minus the 2 s (the SDK imported beforehand, as
   in any run after the first server; the goal is under 0.5 s).
2. A config's sync custom tool: the first call (a worker starts and imports the tools'
   file), a warm call, and the same function in a thread (a Python-API tool) for comparison;
   and a call past its 1 s limit: from the limit to its worker being gone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import psutil  # noqa: E402

from massgen.config.tool_config import CustomToolConfig, MCPServerConfig  # noqa: E402
from massgen.messages import ToolCall  # noqa: E402
from massgen.tools.base import ToolLimits, close_tools, run_call  # noqa: E402
from massgen.tools.custom import load_custom_tools, tool_from_function  # noqa: E402
from massgen.tools.mcp import MCPHub  # noqa: E402

TOOLS_PY = '''
import os, time

def whoami() -> int:
    """This process's id."""
    return os.getpid()

def stall(pid_file: str) -> str:
    """Never returns."""
    open(pid_file, "w").write(str(os.getpid()))
    time.sleep(3600)
    return "woke"
'''


def whoami() -> int:
    """This process's id."""
    import os

    return os.getpid()


async def mcp_startup_lateness() -> float:
    import mcp  # noqa: F401 - imported before, as in a run's later servers

    notices: list[float] = []
    hub = MCPHub(lambda agents, text: notices.append(time.monotonic()))
    config = MCPServerConfig(
        name="mute",
        command=sys.executable,
        args=["-c", "import time; time.sleep(600)"],
        startup_timeout_seconds=2,
    )
    hub.add("a1", config)
    started = time.monotonic()
    hub.start()
    await hub.tools_for("a1", [config])
    late = notices[0] - started - 2
    await hub.close()
    return late


async def call_time(tool, **arguments) -> float:
    began = time.perf_counter()
    result = await run_call(tool, ToolCall("c", tool.name, json.dumps(arguments)), ToolLimits())
    assert not result.is_error, result.text
    return time.perf_counter() - began


async def worker_costs(folder: Path) -> dict[str, float]:
    (folder / "bench_tools.py").write_text(TOOLS_PY)
    entry = CustomToolConfig(path=str(folder / "bench_tools.py"), function=["whoami", "stall"])
    tools = {t.name: t for t in load_custom_tools([entry], "backend")}
    first = await call_time(tools["whoami"])
    warm = statistics.median([await call_time(tools["whoami"]) for _ in range(50)])
    thread = tool_from_function(whoami)
    threaded = statistics.median([await call_time(thread) for _ in range(50)])
    pid_file = folder / "pid"
    call = ToolCall("c", "stall", json.dumps({"pid_file": str(pid_file)}))
    await run_call(tools["stall"], call, ToolLimits(timeout_s=1))
    limit_hit = time.perf_counter()
    pid = int(pid_file.read_text())

    def wait_gone() -> None:  # polled: asyncio's child watcher reaps it, not us
        try:
            process = psutil.Process(pid)
            while process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                time.sleep(0.001)
        except psutil.NoSuchProcess:
            pass  # already gone (and reaped)

    await asyncio.to_thread(wait_gone)
    stopped = time.perf_counter() - limit_hit
    await close_tools(tools.values())
    return {
        "first call (worker start + import), ms": first * 1000,
        "warm call, ms": warm * 1000,
        "in a thread (Python-API tool), ms": threaded * 1000,
        "limit to worker gone, ms": stopped * 1000,
    }


async def main(repeat: int) -> None:
    lateness = [await mcp_startup_lateness() for _ in range(repeat)]
    print("| MCP startup_timeout_seconds: 2, notice after the limit | median | max |")
    print("|---|---|---|")
    print(f"| seconds | {statistics.median(lateness):.3f} | {max(lateness):.3f} |")
    rows: dict[str, list[float]] = {}
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as folder:
            for key, value in (await worker_costs(Path(folder))).items():
                rows.setdefault(key, []).append(value)
    print("\n| sync custom tool | median | max |")
    print("|---|---|---|")
    for key, values in rows.items():
        print(f"| {key} | {statistics.median(values):.1f} | {max(values):.1f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    asyncio.run(main(parser.parse_args().repeat))
