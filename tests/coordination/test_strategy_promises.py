"""Debate's consensus threshold and judge's aggregator do what the README says, in whole
runs of the real ``chatcompletion`` backend against the fake Chat Completions server (each
agent a model of its own, its replies scripted)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from massgen.config.loader import load_config_dict
from massgen.coordination.build import build_coordinator
from massgen.coordination.strategy import RunResult
from massgen.events import Event, EventBus
from tests.fakes.chat_server import FakeChatServer, Reply


def answer(content: str) -> Reply:
    return Reply(tool_calls=[("new_answer", json.dumps({"content": content}))])


BAD_KEY = Reply(status=401, error_message="invalid api key")


async def run(
    server: FakeChatServer, models: int, **orchestrator: Any
) -> tuple[RunResult, list[Event]]:
    config = {
        "agents": [
            {
                "id": f"m{i}",
                "backend": {
                    "type": "vllm",
                    "model": f"m{i}",
                    "base_url": server.url,
                    "max_retries": 0,
                },
            }
            for i in range(1, models + 1)
        ],
        "orchestrator": {"restart_debounce_seconds": 0, **orchestrator},
    }
    bus = EventBus()
    events: list[Event] = []
    bus.add_listener(events.append)
    coordinator = build_coordinator(load_config_dict(config).config, bus)
    try:
        result = await coordinator.run("What is 2+2?")
    finally:
        for agent in coordinator.specs:
            await agent.backend.aclose()
    return result, events


def of_type(events: list[Event], kind: str) -> list[Any]:
    return [e for e in events if e.type == kind]


# --------------------------------------------------------------------- debate


@pytest.mark.parametrize(
    ("threshold", "first_answers", "consensus"),
    [
        (0.67, ["4", "4", "5"], True),  # 2 of 3: 67%, the README's example
        (0.67, ["4", "4", "4", "5"], True),  # 3 of 4: 75%
        (0.67, ["4", "4", "4", "5", "6"], False),  # 3 of 5: 60%
        (0.6, ["4", "4", "4", "5", "6"], True),  # 3 of 5 at 0.6
        (1.0, ["4", "4", "5"], False),  # the default: everyone
    ],
)
async def test_debate_ends_at_the_consensus_threshold_read_in_whole_percents(
    threshold: float, first_answers: list[str], consensus: bool
) -> None:
    with FakeChatServer() as server:
        for i, first in enumerate(first_answers, 1):
            server.enqueue_for(f"m{i}", answer(first), answer("4"))  # round 2: all agree
        result, events = await run(
            server, len(first_answers), strategy="debate", consensus_threshold=threshold
        )
        requests = len(server.requests)
    rounds = of_type(events, "round_finished")
    assert rounds[0].consensus is consensus
    agents = len(first_answers)
    # consensus: the debate ends after round 1; otherwise everyone revises once, and agrees
    assert requests == (agents if consensus else 2 * agents)
    assert [r.consensus for r in rounds] == ([True] if consensus else [False, True])
    assert result.ok and result.final_answer == "4"
    reason = of_type(events, "winner_selected")[0].reason
    agreeing = first_answers.count("4") if consensus else agents
    assert reason.startswith(f"consensus: {agreeing} of {agents} agents agree")


# --------------------------------------------------------------------- judge


async def test_an_aggregator_failing_in_its_call_is_replaced_by_another_agent() -> None:
    with FakeChatServer() as server:
        server.enqueue_for("m1", answer("A1"), BAD_KEY)
        server.enqueue_for("m2", answer("B1"), Reply(text="Synthesis by m2."))
        server.enqueue_for("m3", answer("C1"))
        result, events = await run(server, 3, strategy="judge")
        models = [r.model for r in server.requests]
    assert result.status == "ok"
    assert result.final_answer == "Synthesis by m2."  # not m1's own, unsynthesised "A1"
    assert models.count("m2") == 2 and models.count("m1") == 2
    assert result.winner == "m2"
    [failed] = of_type(events, "agent_failed")
    assert failed.agent_id == "m1" and "invalid api key" in failed.reason
    winners = of_type(events, "winner_selected")
    assert [w.reason for w in winners] == [
        "aggregator: m1",
        "aggregator: m2 (in place of m1, which failed)",
    ]
    [final] = of_type(events, "final_answer")
    assert final.agent_id == "m2" and final.presented


async def test_an_aggregator_that_failed_earlier_is_not_named_as_the_aggregator() -> None:
    with FakeChatServer() as server:
        server.enqueue_for("m1", BAD_KEY)
        server.enqueue_for("m2", answer("B1"), Reply(text="Synthesis by m2."))
        server.enqueue_for("m3", answer("C1"))
        result, events = await run(server, 3, strategy="judge")
    assert result.ok and result.final_answer == "Synthesis by m2."
    [winner] = of_type(events, "winner_selected")
    assert winner.agent_id == "m2"
    assert winner.reason == "aggregator: m2 (in place of m1, which failed)"


@pytest.mark.parametrize("fallback", [False, True])
async def test_when_no_agent_can_aggregate_the_run_fails(fallback: bool) -> None:
    with FakeChatServer() as server:
        server.enqueue_for("m1", answer("A1"), BAD_KEY)
        server.enqueue_for("m2", answer("B1"), BAD_KEY)
        result, events = await run(server, 2, strategy="judge", fallback_to_best=fallback)
    assert result.status == "failed"
    assert result.error is not None and result.error.startswith("no agent could write")
    assert "m1: final answer failed" in result.error and "m2: final answer failed" in result.error
    if fallback:  # the last aggregator's own answer, and said so
        assert result.final_answer == "B1" and "fallback_to_best" in result.error
    else:
        assert result.final_answer is None and not of_type(events, "final_answer")
    assert of_type(events, "run_finished")[0].status == "failed"


# --------------------------------------------------------------------- run_started


@pytest.mark.parametrize("strategy", ["vote", "debate", "judge"])
async def test_run_started_shows_fallback_to_best_for_every_strategy(strategy: str) -> None:
    with FakeChatServer() as server:
        _, events = await run(server, 2, strategy=strategy, fallback_to_best=True)
    assert of_type(events, "run_started")[0].options["fallback_to_best"] is True


async def test_when_every_agent_failed_before_the_aggregation_the_run_fails() -> None:
    with FakeChatServer() as server:
        server.enqueue_for("m1", answer("A1"), BAD_KEY)  # layer 2 fails
        server.enqueue_for("m2", answer("B1"), BAD_KEY)
        result, _ = await run(server, 2, strategy="judge", layers=2, fallback_to_best=True)
        requests = len(server.requests)
    assert requests == 4  # nobody was left to ask
    assert result.status == "failed" and result.final_answer == "A1"  # the judge's own
    assert result.error is not None and result.error.startswith("no agent could write")
