"""The ag2 backend's own costs, against the fake Chat Completions server (no model time):

- building the backend (the first one imports AG2, which dominates a run's start-up);
- one call (a ``vote`` tool call) through AG2's client on the run's event loop, against the
  same call through the ``chatcompletion`` backend;
- cancelling a call whose reply would take 30 s: how long until the stream and the request
  are gone.

Run from the repo root: ``python benchmarks/bench_ag2.py [--calls 50]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from massgen.backends.registry import create_backend
from massgen.config.schema import BackendConfig
from massgen.messages import Message, ToolSpec
from tests.fakes.chat_server import FakeChatServer, Reply

VOTE = ToolSpec("vote", "Vote.", {"type": "object", "properties": {"agent_id": {"type": "string"}}})


def _configs(url: str) -> dict[str, BackendConfig]:
    entry = {"model": "gpt-4o", "api_key": "sk-bench", "base_url": url}
    return {
        "ag2": BackendConfig.model_validate(
            {"type": "ag2", "llm_config": {"config_list": [entry]}}
        ),
        "chatcompletion": BackendConfig.model_validate({"type": "chatcompletion", **entry}),
    }


async def _call(backend, server: FakeChatServer) -> None:
    server.enqueue(Reply(tool_calls=[("vote", '{"agent_id": "agent1"}')]))
    async for _ in backend.stream([Message("user", "q")], [VOTE]):
        pass


async def main(calls: int) -> None:
    with FakeChatServer(ttft=0, tokens_per_second=0) as server:
        for kind, config in _configs(server.url).items():
            started = time.perf_counter()
            backend = create_backend(config)
            built = time.perf_counter() - started
            await _call(backend, server)  # warm
            times = []
            for _ in range(calls):
                started = time.perf_counter()
                await _call(backend, server)
                times.append((time.perf_counter() - started) * 1000)
            print(
                f"{kind:15} build {built * 1000:7.0f} ms   "
                f"call median {statistics.median(times):6.1f} ms  "
                f"max {max(times):6.1f} ms  ({calls} calls)"
            )
            if kind == "ag2":
                server.enqueue(Reply(text="late", ttft=30))
                task = asyncio.create_task(_call(backend, server))
                await asyncio.sleep(0.3)
                started = time.perf_counter()
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                print(f"{kind:15} cancel {(time.perf_counter() - started) * 1000:6.1f} ms")
            await backend.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50)
    started = time.perf_counter()
    asyncio.run(main(parser.parse_args().calls))
    print(f"exit after {time.perf_counter() - started:.1f} s")
