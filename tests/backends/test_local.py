"""The ``local`` backend with the real SmolLM2-135M model run by llama.cpp (short outputs)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from massgen import local_model
from massgen.backends import local
from massgen.backends.registry import create_backend
from massgen.config.schema import BackendConfig, OrchestratorConfig
from massgen.coordination import modes, workflow
from massgen.coordination.coordinator import Coordinator
from massgen.coordination.state import AgentSpec
from massgen.errors import ConfigurationError
from massgen.events import EventBus
from massgen.messages import Message, TextChunk, ToolCallChunk, UsageChunk

QUESTION = "What is the capital of France?"


def make(**fields) -> local.LocalBackend:
    return create_backend(BackendConfig(**{"type": "local", "max_tokens": 48, **fields}))


def prompt(answers: dict[str, str]) -> list[Message]:
    block = "\n".join(f"<{label}>\n{text}\n</{label}>" for label, text in answers.items())
    return [
        Message("system", "You give short answers."),
        Message(
            "user",
            f"<ORIGINAL MESSAGE>\n{QUESTION}\n</ORIGINAL MESSAGE>\n\n"
            f"<CURRENT ANSWERS>\n{block or '(no answers yet)'}\n</CURRENT ANSWERS>",
        ),
    ]


async def collect(backend, messages, tools=None):
    return [chunk async for chunk in backend.stream(messages, tools)]


def test_the_default_model_is_found_inside_the_installed_package():
    path = local_model.default_model_path()
    assert path is not None and path.name == local_model.DEFAULT_MODEL_FILE
    assert path.stat().st_size > 50_000_000
    assert make().model == "SmolLM2-135M-Instruct"


async def test_without_tools_text_streams_with_usage():
    chunks = await collect(make(temperature=0.2, seed=1), prompt({}))
    texts = [c.text for c in chunks if isinstance(c, TextChunk)]
    assert len(texts) > 3 and "".join(texts).strip()
    usage = next(c for c in chunks if isinstance(c, UsageChunk))
    assert usage.prompt_tokens > 20 and usage.completion_tokens == len(texts)
    assert not any(isinstance(c, ToolCallChunk) for c in chunks)


@pytest.mark.timeout(600)  # 20 real generations: ~30 s alone, minutes on a loaded machine
async def test_the_constrained_action_is_valid_in_20_of_20_decisions():
    situations = [
        # first turn: only new_answer
        (workflow.TurnRules((), True, 3, ()), {}),
        # review: answer or vote
        (
            workflow.TurnRules(
                ("agent1", "agent2"), True, 3, (("agent1.1", "Paris."), ("agent2.1", "Lyon."))
            ),
            {"agent1": "Paris.", "agent2": "Lyon."},
        ),
        # answer cap reached: vote only
        (
            workflow.TurnRules(("agent1", "agent2", "agent3"), False, 1, ()),
            {"agent1": "Paris.", "agent2": "Lyon.", "agent3": "It is Paris."},
        ),
    ]
    valid = 0
    actions = []
    for decision in range(20):
        rules, answers = situations[decision % 3]
        backend = make(temperature=0.2 + 0.04 * decision, seed=decision, max_tokens=96)
        json_mode = modes.ModeBackend(backend, modes.first_mode("auto", backend))
        chunks = await collect(json_mode, prompt(answers), workflow.tool_specs(rules))
        calls = [c.call for c in chunks if isinstance(c, ToolCallChunk)]
        action = workflow.validate(calls, rules)  # raises if invalid
        actions.append(action)
        valid += 1
    assert valid == 20
    assert any(isinstance(a, workflow.VoteAction) for a in actions)
    assert any(isinstance(a, workflow.NewAnswerAction) for a in actions)


def test_a_generation_cut_off_by_max_tokens_keeps_its_content():
    tools = workflow.tool_specs(workflow.TurnRules((), True, 3, ()))
    text = '{"action": "new_answer", "content": "Paris is the cap'
    call = modes.parse_json_action(text, tools, "c1")
    assert call.name == "new_answer"
    assert json.loads(call.arguments) == {"content": "Paris is the cap"}


async def test_agents_on_the_same_file_share_one_loaded_model():
    backends = [make(seed=i, temperature=0.5) for i in range(4)]
    results = await asyncio.gather(*(collect(b, prompt({})) for b in backends))
    assert all(any(isinstance(c, TextChunk) for c in r) for r in results)
    assert len({id(b.shared) for b in backends}) == 1
    assert local.loaded_model_count() == 1


async def test_a_cancelled_generation_stops_and_frees_the_model():
    story = [Message("user", "Write a long story about a dragon who learns to read.")]
    uncancelled = await collect(make(max_tokens=300, temperature=0.8, seed=7), story)
    assert next(c for c in uncancelled if isinstance(c, UsageChunk)).completion_tokens > 100

    backend = make(max_tokens=300, temperature=0.8, seed=7)
    stream = backend.stream(story, None)
    first = await anext(stream)
    assert isinstance(first, TextChunk)
    started = time.monotonic()
    await stream.aclose()  # what cancelling the consuming turn does
    # the worker notices within a token and releases the shared model
    acquired = await asyncio.to_thread(backend.shared.lock.acquire, True, 5)
    assert acquired and time.monotonic() - started < 1.0
    backend.shared.lock.release()


def test_a_missing_model_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigurationError, match="local model file not found"):
        make(model_path=str(tmp_path / "nope.gguf"))


def test_without_llama_cpp_the_error_says_how_to_install(monkeypatch):
    real = local.importlib.util.find_spec
    monkeypatch.setattr(
        local.importlib.util, "find_spec", lambda name: None if name == "llama_cpp" else real(name)
    )
    with pytest.raises(ConfigurationError, match=r"pip install 'massgen\[local\]'"):
        make()


async def test_three_local_agents_reach_a_winner_through_the_engine():
    agents = [
        AgentSpec(id=f"local{i}", backend=make(temperature=t, seed=i, max_tokens=64))
        for i, t in enumerate((0.2, 0.6, 0.9), 1)
    ]
    config = OrchestratorConfig(max_new_answers_per_agent=1, final_answer="present")
    bus = EventBus()
    events = []
    bus.add_listener(events.append)
    result = await Coordinator(agents, config, bus).run(QUESTION)
    assert result.ok, result.error
    assert len(result.answers) == 3 and len(result.votes) == 3
    assert result.winner in {"local1", "local2", "local3"}
    assert sum(result.tally.values()) == 3
    # the presentation streamed text
    assert [e for e in events if e.type == "final_answer_delta"]
    assert result.final_answer.strip()


async def test_the_seed_makes_a_sample_repeatable_and_another_seed_another_sample():
    story = [Message("user", "Invent a name for a dragon and describe it in one sentence.")]

    async def sample(seed: int) -> str:
        chunks = await collect(make(max_tokens=32, temperature=1.0, seed=seed), story)
        return "".join(c.text for c in chunks if isinstance(c, TextChunk))

    first, again = await sample(11), await sample(11)
    others = {await sample(seed) for seed in (12, 13)}
    assert first == again  # eval's self-consistency samples are reproducible...
    assert others - {first}  # ...and independent of each other
