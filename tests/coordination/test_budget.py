"""Budgets: a model call that could cross a cap is never started (scripted backend)."""

from __future__ import annotations

import pytest

from massgen.backends.retry import RetryPolicy
from massgen.config.schema import OrchestratorConfig
from massgen.coordination.budget import Budget
from massgen.coordination.coordinator import Coordinator
from massgen.coordination.state import AgentSpec, AgentState
from massgen.errors import ConfigurationError
from massgen.events import Event, EventBus
from massgen.messages import Message
from tests.support.scripted import ScriptedBackend, Step, answer, vote


def agent(name: str, script=(), *, max_tokens: int | None = 100, model: str | None = None, **caps):
    backend = ScriptedBackend(name, list(script), max_tokens=max_tokens, model=model)
    return AgentSpec(id=name, backend=backend, **caps)


def big(step: Step) -> Step:
    """A step whose call reports 1,000 prompt and 100 completion tokens."""
    step.prompt_tokens, step.completion_tokens = 1000, 100
    return step


async def run(agents, **cfg):
    bus = EventBus()
    events: list[Event] = []
    bus.add_listener(events.append)
    config = OrchestratorConfig(**{"restart_debounce_seconds": 0.0, **cfg})
    coordinator = Coordinator(agents, config, bus, retry_policy=RetryPolicy(max_attempts=1))
    return await coordinator.run("What is 2+2?"), events


def of_type(events, kind):
    return [e for e in events if e.type == kind]


def calls(agents) -> int:
    return sum(len(a.backend.calls) for a in agents)


async def test_the_runs_token_cap_ends_it_with_the_best_answer_so_far():
    agents = [agent(f"a{i}", [big(answer(f"answer {i}")), big(vote("agent1"))]) for i in (1, 2, 3)]
    result, events = await run(agents, max_total_tokens=3500)
    assert result.status == "budget"
    assert calls(agents) == 3  # the three answers (3,300 tokens); no vote could fit in 200
    assert result.total_usage.prompt_tokens + result.total_usage.completion_tokens <= 3500
    assert result.final_answer == "answer 3"  # no votes: the latest answer
    refused = of_type(events, "budget_exceeded")
    assert len(refused) == 1 and refused[0].scope == "run"
    assert refused[0].limit == "max_total_tokens" and refused[0].spent == 3300
    assert refused[0].estimate > 200
    assert "the best answer so far is final" in result.error
    finished = of_type(events, "run_finished")[0]
    assert finished.status == "budget"
    assert not of_type(events, "final_answer_delta")  # no presentation after the cap


async def test_an_agents_own_cap_stops_only_that_agent():
    agents = [
        agent("a1", [answer("one"), vote("agent2")]),
        agent("a2", [big(answer("two")), big(vote("agent2"))], max_total_tokens=1500),
        agent("a3", [answer("three"), vote("agent2")]),
    ]
    result, events = await run(agents, final_answer="reuse")
    assert result.status == "ok"
    assert len(agents[1].backend.calls) == 1  # a2 answered; its vote would not fit
    assert result.winner == "a2" and result.final_answer == "two"  # its answer still counts
    refused = of_type(events, "budget_exceeded")
    assert [(e.agent_id, e.scope) for e in refused] == [("a2", "agent")]
    failed = of_type(events, "agent_failed")
    assert failed[0].agent_id == "a2" and failed[0].error_type == "budget"


async def test_when_every_agent_runs_out_the_status_is_budget():
    agents = [agent(f"a{i}", [big(answer(f"answer {i}"))]) for i in (1, 2)]
    result, _ = await run(agents, agent_max_total_tokens=1500)
    assert result.status == "budget"
    assert calls(agents) == 2
    assert result.final_answer in ("answer 1", "answer 2")


async def test_calls_in_flight_hold_their_bound_so_concurrent_calls_cannot_overrun():
    # each first call's bound is its prompt (a few hundred tokens) + max_tokens (2,000)
    agents = [
        agent(f"a{i}", [answer(f"answer {i}", delay=0.2)], max_tokens=2000) for i in (1, 2, 3)
    ]
    result, events = await run(agents, max_total_tokens=5000)
    assert [len(a.backend.calls) for a in agents] == [1, 1, 0]  # the third never started
    refused = of_type(events, "budget_exceeded")[0]
    assert refused.agent_id == "a3" and refused.spent == 0 and refused.reserved > 4000
    assert result.status == "budget" and result.final_answer in ("answer 1", "answer 2")


async def test_a_cost_cap_refuses_a_call_whose_bound_could_cross_it():
    # gpt-4o-mini: $0.15 / $0.60 per million tokens; a bound of ~1,100 tokens costs ~$0.0006
    cheap = [agent("a1", [answer("one")], max_tokens=1000, model="gpt-4o-mini")]
    result, events = await run(cheap, max_cost_usd=0.0001)
    assert result.status == "budget" and result.final_answer is None
    assert calls(cheap) == 0
    assert of_type(events, "budget_exceeded")[0].limit == "max_cost_usd"
    assert "no answer was produced" in result.error
    cheap = [agent("a1", [answer("one")], max_tokens=1000, model="gpt-4o-mini")]
    result, _ = await run(cheap, max_cost_usd=1.0)
    assert result.status == "ok" and result.total_usage.cost > 0


def test_a_cost_cap_on_a_model_without_a_price_is_refused_before_any_call():
    agents = [agent("a1", model="some-unpriced-model")]
    with pytest.raises(ConfigurationError, match=r"some-unpriced-model.*max_total_tokens"):
        Coordinator(agents, OrchestratorConfig(max_cost_usd=1.0))
    Coordinator(agents, OrchestratorConfig(max_total_tokens=1000))  # tokens need no price


async def test_debate_stops_between_rounds_at_the_cap():
    agents = [
        agent(f"a{i}", [big(answer("4" if i == 1 else "5")), big(answer("4"))]) for i in (1, 2)
    ]
    result, events = await run(agents, strategy="debate", max_total_tokens=2500)
    assert result.status == "budget"
    assert calls(agents) == 2
    assert [r.round for r in of_type(events, "round_finished")] == [1]


async def test_run_started_carries_the_caps():
    agents = [agent("a1", [answer("one")], max_cost_usd=0.5, model="gpt-4o-mini")]
    _, events = await run(agents, max_total_tokens=10_000, agent_max_total_tokens=5000)
    budget = of_type(events, "run_started")[0].budget
    assert budget == {
        "max_total_tokens": 10_000,
        "agents": {"a1": {"max_cost_usd": 0.5, "max_total_tokens": 5000}},
    }


async def test_without_max_tokens_the_refusal_says_how_to_tighten_the_bound():
    agents = [agent("a1", [answer("one")], max_tokens=None)]
    result, events = await run(agents, max_total_tokens=2000)
    assert result.status == "budget" and calls(agents) == 0
    assert "set max_tokens on its backend" in of_type(events, "budget_exceeded")[0].message


async def test_cached_prompt_tokens_are_spent_at_the_cached_rate():
    # gpt-5-mini: $0.25 input, $0.025 cached, $2.00 output per million tokens
    def cached(step: Step) -> Step:
        step.prompt_tokens, step.cached_tokens, step.completion_tokens = 100_000, 80_000, 100
        return step

    agents = [
        agent(f"a{i}", [cached(answer(f"answer {i}")), vote("agent1")], model="gpt-5-mini")
        for i in (1, 2, 3)
    ]
    result, events = await run(agents, max_cost_usd=0.025)
    # each answer: 20,000 fresh + 80,000 cached + 100 output tokens = $0.0072
    assert result.total_usage.cost == pytest.approx(3 * 0.0072)
    refused = of_type(events, "budget_exceeded")
    assert refused and refused[0].spent == pytest.approx(3 * 0.0072)


def test_a_claude_calls_bound_allows_for_writing_its_prompt_to_the_cache():
    """Anthropic charges 1.25x input for what a call writes to its prompt cache."""
    spec = agent("a1", model="claude-sonnet-4-5", max_tokens=1000)
    state = AgentState(spec=spec, label="agent1")
    budget = Budget.for_run(OrchestratorConfig(max_cost_usd=1.0), [state], lambda _: None)
    estimate = budget.estimate(state, [Message("user", "x" * 2997)], None)
    # 2,997 characters and 16 of framing at 1 token per 3: 1,005 prompt tokens at $3.75
    # (a cache write), 1,000 completion tokens at $15 per million
    assert estimate.cost == pytest.approx((1005 * 3.75 + 1000 * 15) / 1e6)
