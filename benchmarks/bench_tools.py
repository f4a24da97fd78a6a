"""The tool loop's cost: what the engine adds to each tool call beyond the tool's own time,
and whether starting MCP servers delays the first model requests.

    python benchmarks/bench_tools.py [--calls 200] [--repeat 5]

1. Engine overhead per call (scripted backend, in process, no network): a turn whose model
   makes N sequential tool rounds of a tool that returns at once, against the same turn with
   no tools; the difference over N, minus the scripted model call each round costs anyway.
   Also N calls in one parallel round.
2. MCP start-up (fake provider on 127.0.0.1, mcp-server-time from PyPI): the time from the
   run's start to the first model request of an agent without MCP servers, with and without a
   peer agent that has one; and the first request of the agent that has it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from massgen.config.schema import OrchestratorConfig  # noqa: E402
from massgen.config.tool_config import MCPServerConfig  # noqa: E402
from massgen.coordination.coordinator import Coordinator  # noqa: E402
from massgen.coordination.state import AgentSpec  # noqa: E402
from massgen.events import EventBus  # noqa: E402
from massgen.tools.custom import tool_from_function  # noqa: E402
from tests.support.scripted import ScriptedBackend, Step, answer  # noqa: E402


def noop(x: int) -> int:
    """Return x."""
    return x


async def _turn(steps: list[Step], with_tools: bool) -> float:
    agents = [
        AgentSpec(
            "a1",
            ScriptedBackend("a1", steps),
            tools=[tool_from_function(noop)] if with_tools else [],
        )
    ]
    config = OrchestratorConfig(max_tool_calls_per_turn=10_000, final_answer="reuse")
    started = time.perf_counter()
    await Coordinator(agents, config, EventBus()).run("q")
    return time.perf_counter() - started


async def engine_overhead(calls: int, repeat: int) -> dict[str, float]:
    """Extra calls in one parallel round cost only the tool machinery (no model call);
    extra sequential rounds cost the machinery plus one (instant, scripted) model call."""

    def parallel(n: int) -> list[Step]:
        return [Step(calls=[("noop", {"x": i}) for i in range(n)]), answer("done")]

    def sequential(n: int) -> list[Step]:
        return [Step(calls=[("noop", {"x": i})]) for i in range(n)] + [answer("done")]

    one_p, many_p, one_s, many_s = [], [], [], []
    for _ in range(repeat):
        one_p.append(await _turn(parallel(1), with_tools=True))
        many_p.append(await _turn(parallel(calls), with_tools=True))
        one_s.append(await _turn(sequential(1), with_tools=True))
        many_s.append(await _turn(sequential(calls), with_tools=True))
    med = statistics.median
    return {
        "per call, parallel round (ms)": (med(many_p) - med(one_p)) / (calls - 1) * 1000,
        "per call, sequential rounds, incl. the model call (ms)": (med(many_s) - med(one_s))
        / (calls - 1)
        * 1000,
    }


async def mcp_start_delay(repeat: int) -> dict[str, float]:
    from massgen.backends.registry import create_backend
    from massgen.config.schema import BackendConfig
    from tests.fakes.chat_server import FakeChatServer

    results: dict[str, list[float]] = {"no MCP in the run": [], "peer has mcp-server-time": []}
    own: list[float] = []
    with FakeChatServer() as fake:
        for _ in range(repeat):
            for label, with_mcp in (
                ("no MCP in the run", False),
                ("peer has mcp-server-time", True),
            ):
                fake.reset()
                plain = create_backend(BackendConfig(type="vllm", model="plain", base_url=fake.url))
                other = create_backend(
                    BackendConfig(type="vllm", model="tooled", base_url=fake.url)
                )
                servers = (
                    [MCPServerConfig(name="time", command="mcp-server-time")] if with_mcp else []
                )
                agents = [
                    AgentSpec("plain", plain),
                    AgentSpec("tooled", other, mcp_servers=servers),
                ]
                config = OrchestratorConfig(final_answer="reuse", max_new_answers_per_agent=1)
                started = time.monotonic()  # the fake stamps requests on this clock
                await Coordinator(agents, config, EventBus()).run("q")
                first = {}
                for request in fake.requests:
                    first.setdefault(request.body["model"], request.started_at)
                results[label].append(first["plain"] - started)
                if with_mcp:
                    own.append(first["tooled"] - started)
                await plain.aclose()
                await other.aclose()
    out = {
        f"first request of the agent without MCP, {k} (ms)": statistics.median(v) * 1000
        for k, v in results.items()
    }
    out["first request of the agent with mcp-server-time (ms)"] = statistics.median(own) * 1000
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    import os

    print(f"load average: {os.getloadavg()[0]:.2f}")
    for title, numbers in (
        ("Engine overhead per tool call", asyncio.run(engine_overhead(args.calls, args.repeat))),
        ("MCP start-up and the first model requests", asyncio.run(mcp_start_delay(args.repeat))),
    ):
        print(f"\n| {title} | median |\n|---|---|")
        for name, value in numbers.items():
            print(f"| {name} | {value:.2f} |")


if __name__ == "__main__":
    main()
