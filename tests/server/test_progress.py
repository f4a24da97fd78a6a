"""A task's progress follows the run as its strategy describes it (``RunStarted``): a
debate's progress climbs round by round instead of waiting at the vote threshold."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import massgen
from massgen.server.progress import Progress
from tests.fakes.chat_server import FakeChatServer


@pytest.fixture
def provider() -> Iterator[FakeChatServer]:
    with FakeChatServer() as server:
        yield server


def team(provider: FakeChatServer, **orchestrator: Any) -> dict[str, Any]:
    agents = [
        {"id": f"a{i}", "backend": {"type": "vllm", "model": f"m{i}", "base_url": provider.url}}
        for i in (1, 2, 3)
    ]
    return {"agents": agents, "orchestrator": orchestrator}


async def progress_of(config: dict[str, Any]) -> list[tuple[str, int]]:
    """(event type, progress after it) for every event of a real run but the deltas."""
    progress, seen = Progress(), []
    async for event in massgen.stream("2+2?", config=config):
        progress.feed(event)
        if not event["type"].endswith("delta"):
            seen.append((event["type"], progress.value))
    return seen


async def test_a_debate_advances_with_each_round_before_its_final_answer(provider):
    # 3 agents, 2 revision rounds: 3 steps of 3 answers, the last round ends at 85
    seen = await progress_of(team(provider, strategy="debate", max_rounds=2))
    before_final = [v for kind, v in seen if kind == "round_finished"]
    assert before_final == [31, 58, 85]
    answers = [v for kind, v in seen if kind == "answer_submitted"]
    assert answers[:2] == [13, 22]  # 5 + 80 * 1/9, 5 + 80 * 2/9
    assert seen[-1][1] >= 90


async def test_a_vote_run_goes_answers_then_votes_then_the_presentation(provider):
    seen = await progress_of(team(provider))
    assert seen[0] == ("run_started", 5)
    assert [v for k, v in seen if k == "answer_submitted"] == [18, 31, 45]
    assert [v for k, v in seen if k == "vote_cast"] == [58, 71, 85]
    assert seen[-1][1] >= 90


async def test_a_judge_run_advances_layer_by_layer(provider):
    # 3 agents, 2 layers of answers, then the judge's final answer
    seen = await progress_of(team(provider, strategy="judge", layers=2))
    layers = [v for kind, v in seen if kind == "round_finished"]
    assert layers == [45, 85]
    values = [v for _, v in seen]
    assert values == sorted(values) and seen[-1][1] >= 90
