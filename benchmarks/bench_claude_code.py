"""What a ``claude_code`` turn costs besides the model: starting the bundled Claude Code CLI.

    python benchmarks/bench_claude_code.py [--repeat 7] [--ttft 0]

Each turn is one ``ClaudeCodeBackend.stream`` call (a fresh CLI process, its SDK MCP server,
one model request to the fake Anthropic server on 127.0.0.1, the workflow call, the interrupt
and the process's end). Reported: the time to the CLI's first request, to the workflow call,
and to the end of the stream (process gone), as median and range over ``--repeat`` turns.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from massgen.backends.registry import create_backend  # noqa: E402
from massgen.config.schema import BackendConfig  # noqa: E402
from massgen.messages import Message, ToolCallChunk, ToolSpec  # noqa: E402
from massgen.tools.lending import AgentTurn  # noqa: E402
from tests.fakes.anthropic_server import FakeAnthropicServer  # noqa: E402

NEW_ANSWER = ToolSpec(
    "new_answer", "Give your answer.", {"type": "object", "properties": {"content": {}}}
)


async def turn(server: FakeAnthropicServer, cwd: str) -> tuple[float, float, float]:
    backend = create_backend(
        BackendConfig(type="claude_code", model="claude-sonnet-4-5", base_url=server.url, cwd=cwd),
    )

    async def no_tools(call):
        return ""

    backend.turn = AgentTurn(no_tools)
    before = len(server.requests)
    start = time.monotonic()
    first = action = 0.0
    async for chunk in backend.stream([Message("user", "What is 2+2?")], [NEW_ANSWER]):
        if isinstance(chunk, ToolCallChunk):
            action = time.monotonic() - start
    first = server.requests[before].started_at - start
    return first, action, time.monotonic() - start


def show(name: str, values: list[float]) -> None:
    ms = [v * 1000 for v in values]
    print(f"{name:<28} median {statistics.median(ms):7.0f} ms  ({min(ms):.0f}–{max(ms):.0f})")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--ttft", type=float, default=0.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home, FakeAnthropicServer(ttft=args.ttft) as server:
        os.environ["HOME"] = home  # the CLI's state, not the user's
        os.environ["ANTHROPIC_API_KEY"] = "sk-ant-bench"
        results = [await turn(server, home) for _ in range(args.repeat)]
    show("CLI start to first request", [r[0] for r in results])
    show("to the workflow call", [r[1] for r in results])
    show("to the end (process gone)", [r[2] for r in results])


if __name__ == "__main__":
    asyncio.run(main())
