"""The voters of a round read the same prompt up to a short tail of their own, so provider
caches reuse it: seen on the requests a real run sends to the fake provider, and in the
cached tokens and cost the run reports (docs/architecture.md, "Prompt caching")."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

import massgen
from tests.fakes.chat_server import FakeChatServer, RecordedRequest

QUESTION = "Explain the water cycle. " * 240  # 6,000 characters: about 1,500 tokens


@pytest.fixture
def provider() -> Iterator[FakeChatServer]:
    with FakeChatServer() as server:
        yield server


def team(url: str, n: int = 3) -> dict[str, Any]:
    backend = {
        "type": "chatcompletion",
        "model": "gpt-5-mini",
        "base_url": url,
        "self_hosted": False,  # priced as gpt-5-mini
        "prompt_cache": True,  # a local server gets prompt_cache_key only when asked
    }
    return {"agents": [{"id": f"a{i}", "backend": backend} for i in range(1, n + 1)]}


def is_vote_turn(request: RecordedRequest) -> bool:
    names = [t["function"]["name"] for t in request.body.get("tools") or ()]
    return "vote" in names


def serialized(request: RecordedRequest) -> str:
    return json.dumps(request.body["messages"], ensure_ascii=False)


def shared_prefix(a: str, b: str) -> int:
    """Characters ``a`` and ``b`` share before they first differ."""
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )


async def test_voters_of_a_round_share_their_prompt_up_to_their_own_tail(provider):
    result = await massgen.run(QUESTION, config=team(provider.url))

    votes = [r for r in provider.requests if is_vote_turn(r)]
    assert len(votes) == 3
    texts = [r.body["messages"][-1]["content"] for r in votes]
    tails = [text[text.index("</CURRENT ANSWERS>") :] for text in texts]
    # the tail: the files block (one's own workspace last), then which answer is one's own
    for i, tail in enumerate(sorted(tails), 1):
        assert tail.startswith("</CURRENT ANSWERS>\n\n<FILES>\n")
        assert f"workspaces/agent{i}\n</FILES>" in tail
        assert tail.endswith(f"\n\nYour own latest answer is agent{i}'s.")
    assert len({text.removesuffix(tail) for text, tail in zip(texts, tails, strict=True)}) == 1
    whole = [serialized(r) for r in votes]
    for i, mine in enumerate(whole):
        for other in whole[:i] + whole[i + 1 :]:
            assert shared_prefix(mine, other) / len(mine) >= 0.9
    # one key for the round's turns, on the wire
    assert len({r.body["prompt_cache_key"] for r in votes}) == 1

    # the fake caches repeated prefixes as OpenAI does: the run reports them, priced lower
    usage = result["usage"]
    assert usage["cached_tokens"] >= 2 * 1024
    uncached = (usage["prompt_tokens"] * 0.25 + usage["completion_tokens"] * 2.00) / 1e6
    cached = usage["cached_tokens"] * (0.25 - 0.025) / 1e6
    assert usage["cost_usd"] == pytest.approx(uncached - cached)
    assert sum(u["cached_tokens"] for u in usage["per_agent"].values()) == usage["cached_tokens"]


@pytest.mark.parametrize("strategy", ["debate", "judge"])
async def test_a_debate_or_judge_round_shares_its_prompt_up_to_each_agents_tail(provider, strategy):
    config = team(provider.url)
    rounds = {"max_rounds": 1} if strategy == "debate" else {"layers": 2}
    config["orchestrator"] = {"strategy": strategy, **rounds}
    await massgen.run("What is 2+2?", config=config)

    reading = [
        r
        for r in provider.requests
        if "</CURRENT ANSWERS>" in r.body["messages"][-1]["content"]
        and "<ORIGINAL MESSAGE>" in r.body["messages"][-1]["content"]  # not the final turn
    ]
    assert len(reading) == 3  # the round that reads every agent's first answer
    texts = [r.body["messages"][-1]["content"] for r in reading]
    shared = {text[: text.index("</CURRENT ANSWERS>")] for text in texts}
    assert len(shared) == 1
    assert sorted(t.rsplit("\n\n", 1)[-1] for t in texts) == [
        f"Your own latest answer is agent{i}'s." for i in (1, 2, 3)
    ]
    assert len({r.body["prompt_cache_key"] for r in reading}) == 1
