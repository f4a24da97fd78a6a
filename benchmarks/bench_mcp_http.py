"""An MCP tool call over HTTP (``POST /v1/mcp/tools/call`` on a real ``massgen serve``)
against the same call made directly through the engine's ``MCPHub`` in process: what the
HTTP route adds per call (the tests' own MCP server over stdio, its ``add`` tool).

    python benchmarks/bench_mcp_http.py [--calls 200]
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

import httpx  # noqa: E402
import yaml  # noqa: E402

from massgen.config.tool_config import MCPServerConfig  # noqa: E402
from massgen.messages import ToolCall  # noqa: E402
from massgen.tools.base import ToolLimits, run_call  # noqa: E402
from massgen.tools.mcp import MCPHub  # noqa: E402
from tests.fakes.chat_server import FakeChatServer  # noqa: E402
from tests.server.conftest import massgen_serve  # noqa: E402
from tests.server.support import team  # noqa: E402

SERVER = {"name": "own", "command": sys.executable, "args": ["-m", "tests.fakes.mcp_server"]}


def summary(times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    p95 = ms[int(len(ms) * 0.95) - 1]
    return f"median {statistics.median(ms):.2f} ms, p95 {p95:.2f} ms"


async def direct(calls: int) -> list[float]:
    hub = MCPHub()
    config = MCPServerConfig(**SERVER)
    hub.add("a1", config)
    hub.start()
    (tool,) = [t for t in await hub.tools_for("a1", [config]) if t.name.endswith("__add")]
    times = []
    for i in range(calls + 5):
        started = time.perf_counter()
        call = ToolCall(f"c{i}", tool.name, json.dumps({"a": i, "b": 1}))
        result = await run_call(tool, call, ToolLimits())
        assert result.text == str(i + 1)
        times.append(time.perf_counter() - started)
    await hub.close()
    return times[5:]  # after the warm-up


def over_http(calls: int) -> list[float]:
    with tempfile.TemporaryDirectory() as folder, FakeChatServer() as provider:
        data = team(provider)
        data["agents"][0]["backend"]["mcp_servers"] = [SERVER]
        config = Path(folder) / "team.yaml"
        config.write_text(yaml.safe_dump(data))
        with (
            massgen_serve(config, "--mcp-allow-tool", "add") as process,
            httpx.Client(base_url=process.url, timeout=30) as client,
        ):
            times = []
            for i in range(calls + 5):
                started = time.perf_counter()
                body = {"name": "add", "arguments": {"a": i, "b": 1}}
                answer = client.post("/v1/mcp/tools/call", json=body)
                assert answer.json()["result"] == str(i + 1), answer.text
                times.append(time.perf_counter() - started)
            return times[5:]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    inside = asyncio.run(direct(args.calls))
    http = over_http(args.calls)
    print(f"direct (MCPHub + run_call): {summary(inside)}")
    print(f"over HTTP (massgen serve):  {summary(http)}")
    added = statistics.median(http) - statistics.median(inside)
    print(f"added by HTTP, median: {added * 1000:.2f} ms per call")


if __name__ == "__main__":
    main()
