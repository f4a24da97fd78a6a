"""What the Python API's default ``enable_filesystem=True`` costs a simple question, against
the lightweight ``enable_filesystem=False``: a 3-agent ``massgen.run`` on the fake provider
(127.0.0.1, no latency), in process.

    python benchmarks/bench_filesystem_default.py [--runs 7]

Reported: the tool schemas each agent is sent (count, and their JSON size in tokens by
tiktoken's o200k_base, the GPT-4o/GPT-5 tokenizer, from the copy the litellm extra ships),
the prompt text's tokens of a first-turn request, and the wall time of a run (median of
``--runs``): the workspace's creation and removal, the ``<FILES>`` note, larger requests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import massgen  # noqa: E402
from tests.fakes.chat_server import FakeChatServer  # noqa: E402


def _team(url: str) -> dict:
    backend = {"type": "vllm", "model": "m", "base_url": url}
    return {"agents": [{"id": f"a{i}", "backend": backend} for i in (1, 2, 3)]}


def _tokens(text: str) -> int:
    """Tokens by o200k_base, read from the copy litellm ships (tiktoken would download it)."""
    import importlib.util
    import os

    import tiktoken

    litellm = importlib.util.find_spec("litellm")  # found, not imported (it fetches prices)
    assert litellm is not None and litellm.origin, "needs the litellm extra"
    bundled = os.path.join(os.path.dirname(litellm.origin), "litellm_core_utils", "tokenizers")
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", bundled)
    return len(tiktoken.get_encoding("o200k_base").encode(text))


async def _measure(provider: FakeChatServer, files: bool, runs: int) -> dict[str, float]:
    walls = []
    for _ in range(runs):
        provider.reset()
        started = time.perf_counter()
        await massgen.run("What is 2+2?", config=_team(provider.url), enable_filesystem=files)
        walls.append(time.perf_counter() - started)
    first = provider.requests[0].body
    tools = first.get("tools") or []
    prompt = "".join(str(m.get("content") or "") for m in first["messages"])
    return {
        "tools": len(tools),
        "tool_tokens": _tokens(json.dumps(tools)),
        "prompt_tokens": _tokens(prompt),
        "wall_ms": statistics.median(walls) * 1000,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with FakeChatServer() as provider:
        await _measure(provider, True, 1)  # warm-up: imports, the first connection
        light = await _measure(provider, False, args.runs)
        default = await _measure(provider, True, args.runs)
    print(
        "| enable_filesystem | tools sent | their schemas (tokens) | prompt text (tokens) "
        "| run wall, median |"
    )
    print("|---|---|---|---|---|")
    for name, row in (("False", light), ("True (default)", default)):
        print(
            f"| {name} | {row['tools']:.0f} | {row['tool_tokens']:.0f} | "
            f"{row['prompt_tokens']:.0f} | {row['wall_ms']:.0f} ms |"
        )
    extra = default["tool_tokens"] + default["prompt_tokens"]
    extra -= light["tool_tokens"] + light["prompt_tokens"]
    print(
        f"\nThe default adds {extra:.0f} tokens to each request of the first turn and "
        f"{default['wall_ms'] - light['wall_ms']:.0f} ms to a run."
    )


if __name__ == "__main__":
    asyncio.run(main())
