"""Cache-friendly prompts: how much of their prompt the turns of a round share, and what
provider prompt caching then saves.

Runs a vote team of N agents (default 3 and 8; the example ``three_agents_local_server``'s
shape: chatcompletion agents, no system message of their own, workspaces on by default)
through the real engine and backend against the fake Chat Completions server
(``tests.fakes.chat_server``, in this process), with ``new_answer`` contents of about
``--answer-tokens`` tokens (the fake counts characters / 4). From the recorded requests it
prints, per phase of the run (the first answers, the votes, the final presentation):

- the common-prefix share of the prompts (serialized messages, as JSON text): for each
  prompt, the share of its text it has as a common prefix with each other prompt of the
  phase; mean and min over all pairs;
- prompt tokens, and the cached tokens the fake reports as OpenAI does (a repeated prefix
  of at least 1,024 tokens, in steps of 128: ``tests/fakes/prompt_caches.py``, replayed over
  the requests in arrival order);
- the input cost at gpt-5-mini prices ($0.25 / $0.025 cached / $2.00 output per million),
  without and with caching; and the run's totals as the run itself reports them.

Before/after: the fake server and this script come from this checkout; ``massgen`` from
``PYTHONPATH`` (a checkout of main gives the figures before)::

    python benchmarks/bench_prompt_cache.py [--agents 3,8] [--answer-tokens 256] [--json out.json]
    PYTHONPATH=/path/to/main-checkout python benchmarks/bench_prompt_cache.py --json before.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import massgen  # from PYTHONPATH: the version measured

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the fake server of this checkout, whatever massgen is

from tests.fakes.chat_server import CoordinationBrain, FakeChatServer, RecordedRequest, Reply  # noqa: E402
from tests.fakes.prompt_caches import PrefixCache  # noqa: E402

QUESTION = "Why is the sky blue? Explain it to a curious twelve-year-old."
MODEL = "gpt-5-mini"
PRICE_INPUT, PRICE_CACHED, PRICE_OUTPUT = 0.25, 0.025, 2.00  # USD per million tokens
FILLER = (
    "Rayleigh scattering makes shorter wavelengths of sunlight scatter much more strongly "
    "than longer ones, so the sky looks blue while sunsets look red because light crosses "
    "more air near the horizon and most blue is scattered out of the direct beam. "
)


class LongAnswerBrain(CoordinationBrain):
    """The default coordination brain, with ``new_answer`` contents of ``tokens`` tokens."""

    def __init__(self, tokens: int) -> None:
        super().__init__()
        self.chars = tokens * 4

    def __call__(self, body: dict[str, Any]) -> Reply:
        reply = super().__call__(body)
        if reply.tool_calls and reply.tool_calls[0][0] == "new_answer":
            head = json.loads(reply.tool_calls[0][1])["content"]
            text = f"{head}. {FILLER * (self.chars // len(FILLER) + 1)}"[: self.chars]
            reply.tool_calls = [("new_answer", json.dumps({"content": text}))]
        return reply


def team(url: str, n: int) -> dict[str, Any]:
    backend = {"type": "chatcompletion", "model": MODEL, "base_url": url, "self_hosted": False}
    return {
        "agents": [{"id": f"agent{i}", "backend": dict(backend)} for i in range(1, n + 1)],
        "orchestrator": {"strategy": "vote", "max_new_answers_per_agent": 2},
    }


def phase(request: RecordedRequest) -> str:
    names = {(t.get("function") or {}).get("name") for t in request.body.get("tools") or ()}
    return "votes" if "vote" in names else "answers" if "new_answer" in names else "final"


def common_prefix(a: str, b: str) -> int:
    """Characters ``a`` and ``b`` share before they first differ."""
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )


def prefix_shares(texts: list[str]) -> list[float]:
    """For each ordered pair of prompts: the share of the first's text that is a common
    prefix with the second's."""
    return [
        common_prefix(a, b) / len(a)
        for i, a in enumerate(texts)
        for j, b in enumerate(texts)
        if i != j and a
    ]


def input_cost(prompt: int, cached: int) -> tuple[float, float]:
    """USD of the prompt tokens without and with caching."""
    return prompt * PRICE_INPUT / 1e6, (
        (prompt - cached) * PRICE_INPUT + cached * PRICE_CACHED
    ) / 1e6


async def measure(n: int, answer_tokens: int) -> dict[str, Any]:
    with FakeChatServer(brain=LongAnswerBrain(answer_tokens)) as server:
        with tempfile.TemporaryDirectory() as cwd:
            here = os.getcwd()
            os.chdir(cwd)  # the run's workspaces and session log go there
            try:
                result = await massgen.run(QUESTION, config=team(server.url, n))
            finally:
                os.chdir(here)
        requests = list(server.requests)
    replay = PrefixCache()
    phases: dict[str, dict[str, Any]] = {}
    for request in requests:
        name = phase(request)
        entry = phases.setdefault(
            name, {"requests": 0, "prompt_tokens": 0, "cached_tokens": 0, "texts": []}
        )
        prompt = max(
            1, sum(len(str(m.get("content") or "")) for m in request.body["messages"]) // 4
        )
        entry["requests"] += 1
        entry["prompt_tokens"] += prompt
        entry["cached_tokens"] += replay.cached_tokens(request.body)
        entry["texts"].append(json.dumps(request.body["messages"], ensure_ascii=False))
    for entry in phases.values():
        shares = prefix_shares(entry.pop("texts"))
        entry["prefix_share_mean"] = round(statistics.mean(shares), 4) if shares else None
        entry["prefix_share_min"] = round(min(shares), 4) if shares else None
        without, with_ = input_cost(entry["prompt_tokens"], entry["cached_tokens"])
        entry["input_cost_usd"] = round(without, 8)
        entry["input_cost_cached_usd"] = round(with_, 8)
    usage = result["usage"]
    output = usage["completion_tokens"] * PRICE_OUTPUT / 1e6
    without, with_ = input_cost(usage["prompt_tokens"], usage.get("cached_tokens") or 0)
    return {
        "agents": n,
        "answer_tokens": answer_tokens,
        "phases": phases,
        "run": {
            "requests": usage["requests"],
            "prompt_tokens": usage["prompt_tokens"],
            "cached_tokens": usage.get("cached_tokens") or 0,
            "completion_tokens": usage["completion_tokens"],
            "cost_usd_no_cache": round(without + output, 8),
            "cost_usd_cached": round(with_ + output, 8),
            "cost_usd_reported": None if usage["cost_usd"] is None else round(usage["cost_usd"], 8),
        },
    }


def markdown(results: list[dict[str, Any]], load: str) -> str:
    lines = [
        f"massgen: {Path(massgen.__file__).parent.parent} · load average {load}",
        "",
        "| agents | phase | requests | prefix share mean / min | prompt tok | cached tok "
        "| input $ no cache | input $ cached |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for name, p in r["phases"].items():
            share = (
                f"{p['prefix_share_mean']:.1%} / {p['prefix_share_min']:.1%}"
                if p["prefix_share_mean"] is not None
                else "-"
            )
            lines.append(
                f"| {r['agents']} | {name} | {p['requests']} | {share} | {p['prompt_tokens']:,} "
                f"| {p['cached_tokens']:,} | {p['input_cost_usd']:.6f} | "
                f"{p['input_cost_cached_usd']:.6f} |"
            )
        run = r["run"]
        lines.append(
            f"| {r['agents']} | **run** | {run['requests']} | | {run['prompt_tokens']:,} | "
            f"{run['cached_tokens']:,} | total {run['cost_usd_no_cache']:.6f} | total "
            f"{run['cost_usd_cached']:.6f} (reported {run['cost_usd_reported']}) |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", default="3,8", help="team sizes, comma-separated")
    parser.add_argument("--answer-tokens", type=int, default=256)
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    sizes = [int(n) for n in args.agents.split(",")]
    results = [asyncio.run(measure(n, args.answer_tokens)) for n in sizes]
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(markdown(results, load))
    if args.json:
        out = {
            "massgen": str(Path(massgen.__file__).parent.parent),
            "load": load,
            "results": results,
        }
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
