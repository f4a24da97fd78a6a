"""Cost from the bundled price table; unknown models are "cost unknown", never a guess."""

from __future__ import annotations

import pytest

from massgen.backends.pricing import cost_usd, price_for
from massgen.config.schema import OrchestratorConfig
from massgen.coordination.coordinator import Coordinator
from massgen.events import EventBus
from massgen.messages import UsageChunk
from tests.support.scripted import ScriptedBackend, answer, team, vote

REFERENCE_MODELS = [  # every model named in the reference docs users know
    "gpt-5",
    "gpt-5-mini",
    "gpt-5-nano",
    "gpt-4",
    "gpt-4o",
    "gpt-4-turbo",
    "gpt-3.5-turbo",
    "gpt-4-vision-preview",
    "o1",
    "claude-haiku-4-5-20251001",
    "claude-sonnet-4-5-20250929",
    "claude-opus-4-1-20250805",
    "claude-sonnet-4-20250514",
    "claude-3-5-sonnet-latest",
    "claude-3-5-sonnet-20241022",
    "claude-3-5-haiku-latest",
    "claude-sonnet-4",
    "claude-opus-4",
    "gemini-2.5-flash",
    "gemini-2.5-pro",
    "gemini-2.5-flash-thinking",
    "gemini-2.0-flash",
    "grok-4",
    "grok-4-fast",
    "grok-4-fast-reasoning",
    "grok-3",
    "grok-3-mini",
    "glm-4.5",
]


@pytest.mark.parametrize("model", REFERENCE_MODELS)
def test_every_reference_model_has_a_price(model):
    assert price_for(model) is not None


def test_dated_names_match_and_longest_name_wins():
    assert price_for("gpt-5-mini-2025-08-07") == price_for("gpt-5-mini") != price_for("gpt-5")
    assert price_for("openai/gpt-4o-mini") == price_for("gpt-4o-mini") != price_for("gpt-4o")
    assert price_for("grok-4-0709") == price_for("grok-4")


@pytest.mark.parametrize("model", ["gpt-4.5-preview", "llama-3.3-70b", "gpt-6", "claude-next"])
def test_unknown_models_have_no_price(model):
    assert price_for(model) is None
    assert cost_usd(model, UsageChunk(100, 10)) is None


def test_cost_counts_cached_input_at_the_cached_rate():
    usage = UsageChunk(prompt_tokens=1_000_000, completion_tokens=100_000, cached_tokens=400_000)
    # gpt-5-mini: $0.25 in, $0.025 cached, $2.00 out per million
    assert cost_usd("gpt-5-mini", usage) == pytest.approx(0.6 * 0.25 + 0.4 * 0.025 + 0.1 * 2.0)


def test_self_hosted_models_cost_nothing():
    from massgen.backends.registry import create_backend
    from massgen.config.schema import BackendConfig

    assert cost_usd("gpt-5", UsageChunk(500, 50), self_hosted=True) == 0.0
    vllm = create_backend(BackendConfig(type="vllm", model="Qwen/Qwen3-8B"))
    on_this_machine = create_backend(
        BackendConfig(type="chatcompletion", model="m", base_url="http://127.0.0.1:9/v1")
    )
    hosted = create_backend(BackendConfig(type="grok", model="grok-4", api_key="k"))
    proxied = create_backend(
        BackendConfig(type="grok", model="grok-4", api_key="k", base_url="http://127.0.0.1:9/v1")
    )
    declared = create_backend(
        BackendConfig(
            type="chatcompletion", model="m", base_url="http://10.0.0.5/v1", self_hosted=True
        )
    )
    assert vllm.self_hosted and declared.self_hosted
    assert not hosted.self_hosted and not proxied.self_hosted  # a proxy still bills xAI
    # a generic endpoint on this machine may be a gateway (a LiteLLM proxy) to a paid model
    assert not on_this_machine.self_hosted


def named(model: str, script) -> ScriptedBackend:
    backend = ScriptedBackend(model, script)
    backend.config = backend.config.model_copy(update={"model": model, "type": "openai"})
    backend.type = "openai"
    return backend


async def test_a_run_reports_cost_per_agent_and_in_total():
    agents = team([], [])
    agents[0].backend = named("gpt-5-mini", [answer("a"), vote("agent1")])
    agents[1].backend = named("gpt-5-nano", [answer("b"), vote("agent1")])
    bus = EventBus()
    events = []
    bus.add_listener(events.append)
    result = await Coordinator(agents, OrchestratorConfig(restart_debounce_seconds=0), bus).run("q")
    usage_events = [e for e in events if e.type == "usage"]
    assert usage_events and all(e.cost_usd is not None and e.cost_usd > 0 for e in usage_events)
    assert result.usage["a1"].cost == pytest.approx(
        sum(e.cost_usd for e in usage_events if e.agent_id == "a1")
    )
    assert result.total_usage.cost == pytest.approx(
        result.usage["a1"].cost + result.usage["a2"].cost
    )
    assert events[-1].cost_usd == pytest.approx(result.total_usage.cost)


async def test_an_unknown_model_makes_the_total_cost_unknown():
    agents = team([], [])
    agents[1].backend = named("mystery-model", [answer("b"), vote("agent1")])
    agents[0].backend = named("gpt-5-nano", [answer("a"), vote("agent1")])
    result = await Coordinator(agents, OrchestratorConfig(restart_debounce_seconds=0)).run("q")
    assert result.usage["a1"].cost is not None and result.usage["a2"].cost is None
    assert result.total_usage.cost is None
    assert result.total_usage.prompt_tokens > 0
