"""The tool loop inside a turn (engine level, scripted backends): the model calls its own
tools any number of times before its workflow call; calls run concurrently, within a time
limit and a result cap; errors go back as results; the number of calls is bounded; a
cancelled turn cancels its running calls; every call is a started/finished event pair."""

from __future__ import annotations

import asyncio
import json
import time

from massgen.config.schema import OrchestratorConfig
from massgen.coordination.coordinator import Coordinator
from massgen.coordination.state import AgentSpec
from massgen.events import EventBus
from massgen.messages import ToolCall
from massgen.tools.custom import tool_from_function
from massgen.tools.lending import ToolReply
from tests.support.scripted import ScriptedBackend, Step, answer, say, vote


def call(name: str, **arguments) -> Step:
    return Step(calls=[(name, arguments)])


def calls(*pairs: tuple[str, dict]) -> Step:
    return Step(calls=list(pairs))


def add(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: the first number
        b: the second number
    """
    return a + b


async def slow(seconds: float) -> str:
    """Wait, then say so."""
    await asyncio.sleep(seconds)
    return f"waited {seconds}"


def broken() -> str:
    """Always fails."""
    raise RuntimeError("the disk is on fire")


def huge() -> str:
    """A very long result."""
    return "x" * 50_000


TOOLS = [tool_from_function(f) for f in (add, slow, broken, huge)]


async def run(script, other=None, **orchestrator):
    bus = EventBus()
    events: list = []
    bus.add_listener(events.append)
    agents = [
        AgentSpec("a1", ScriptedBackend("a1", script), tools=list(TOOLS)),
        AgentSpec("a2", ScriptedBackend("a2", other or [answer("b"), vote("agent2")])),
    ]
    result = await Coordinator(agents, OrchestratorConfig(**orchestrator), bus).run("q")
    return result, events, agents[0].backend


def answer_of(result, agent_id: str = "a1") -> str:
    return next(a.content for a in result.answers if a.agent_id == agent_id)


def finished(events, name=None):
    return [
        e for e in events if e.type == "tool_call_finished" and (name is None or e.name == name)
    ]


async def test_a_tool_result_goes_back_to_the_model_before_its_answer() -> None:
    result, events, backend = await run([call("add", a=2, b=3), answer("2+3 is 5"), vote("agent1")])
    assert answer_of(result) == "2+3 is 5"
    done = finished(events, "add")
    assert [(e.result, e.is_error) for e in done] == [("5", False)]
    assert done[0].duration_s is not None
    second = backend.calls[1]  # the call after the tool round
    tool_messages = [m for m in second.messages if m.role == "tool"]
    assert [m.content for m in tool_messages] == ["5"]
    assert "add" in backend.calls[0].tools  # its own tools are offered beside new_answer
    started = [e for e in events if e.type == "tool_call_started" and e.name == "add"]
    assert started and started[0].arguments == '{"a": 2, "b": 3}'


async def test_parallel_calls_run_concurrently() -> None:
    began = time.monotonic()
    result, events, _ = await run(
        [calls(("slow", {"seconds": 0.4}), ("slow", {"seconds": 0.4}), ("slow", {"seconds": 0.4})),
         answer("done"), vote("agent1")]
    )  # fmt: skip
    assert len(finished(events, "slow")) == 3
    assert time.monotonic() - began < 1.0  # not 1.2 s one after another
    assert result.ok


async def test_errors_are_results_and_the_turn_goes_on() -> None:
    result, events, _ = await run(
        [
            calls(
                ("broken", {}),
                ("nope", {}),
                ("add", {"a": "two", "b": 1}),
                ("slow", {"seconds": 5}),
            ),
            answer("managed without"),
            vote("agent1"),
        ],
        tool_timeout_seconds=0.3,
    )
    outcomes = {e.name: e for e in finished(events)}
    assert outcomes["broken"].is_error and "the disk is on fire" in outcomes["broken"].result
    assert outcomes["nope"].is_error and "no tool named 'nope'" in outcomes["nope"].result
    assert outcomes["add"].is_error and "invalid arguments" in outcomes["add"].result
    assert outcomes["slow"].is_error and "did not finish within 0.3s" in outcomes["slow"].result
    assert answer_of(result) == "managed without"
    assert not [e for e in events if e.type in ("agent_failed", "invalid_action")]


async def test_a_long_result_is_cut_with_a_note() -> None:
    _, events, backend = await run(
        [call("huge"), answer("ok"), vote("agent1")], tool_result_max_chars=1000
    )
    sent = next(m.content for m in backend.calls[1].messages if m.role == "tool")
    assert sent.startswith("x" * 1000) and "truncated: the result had 50,000 characters" in sent
    assert finished(events, "huge")[0].output == sent


async def test_the_number_of_tool_calls_in_a_turn_is_bounded() -> None:
    endless = [call("add", a=1, b=1)] * 10
    result, events, backend = await run(
        [*endless, answer("stopped"), vote("agent1")], max_tool_calls_per_turn=3
    )
    assert len(finished(events, "add")) == 3
    # past the bound the tools are no longer offered, and calling one is an invalid action
    assert "add" not in backend.calls[3].tools
    assert any(e.type == "invalid_action" and "unknown tool 'add'" in e.message for e in events)
    assert result.ok


async def test_cancelling_a_turn_cancels_its_running_calls() -> None:
    started: list[float] = []
    stopped: list[str] = []

    async def sleepy() -> str:
        """Sleep long."""
        started.append(time.monotonic())
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            stopped.append("cancelled")
            raise
        return "woke"

    bus = EventBus()
    agents = [
        AgentSpec(
            "a1",
            ScriptedBackend("a1", [answer("a"), call("sleepy"), vote("agent1")]),
            tools=[tool_from_function(sleepy)],
        ),
        # agent2 answers again while agent1's evaluation turn is inside its tool call
        AgentSpec(
            "a2",
            ScriptedBackend("a2", [answer("b"), answer("better b", delay=0.5), vote("agent2")]),
        ),
    ]
    result = await Coordinator(agents, OrchestratorConfig(), bus).run("q")
    assert started and stopped == ["cancelled"]
    assert result.ok


async def test_text_only_ends_the_tool_loop_like_any_turn() -> None:
    result, _, _ = await run([call("add", a=1, b=2), say("3"), say("3"), say("It is 3.")])
    # a first turn that ends in prose after its tool round: the prose is the answer
    assert answer_of(result) == "It is 3."


class LoopingBackend(ScriptedBackend):
    """An agent framework in miniature: it runs its own tools through the engine's
    :class:`AgentTurn` before it yields its workflow call (like Claude Code and AG2)."""

    runs_own_loop = True

    def __init__(self, agent_id, script, own_calls):
        super().__init__(agent_id, script)
        self.own_calls = own_calls
        self.seen: list[tuple[frozenset, ToolReply]] = []

    async def stream(self, messages, tools=None, *, response_format=None, turn=None):
        assert turn is not None, "the engine lends a turn with each call"
        for name, arguments in self.own_calls:
            call = ToolCall(f"own-{len(self.seen)}", name, json.dumps(arguments))
            self.seen.append((turn.own_tools, await turn.run_tool(call)))
        async for chunk in super().stream(messages, tools, response_format=response_format):
            yield chunk


async def test_an_agent_loop_backend_runs_its_tools_through_the_engine() -> None:
    bus = EventBus()
    events: list = []
    bus.add_listener(events.append)
    looping = LoopingBackend(
        "a1", [answer("5"), vote("agent1")], [("add", {"a": 2, "b": 3}), ("nope", {})]
    )
    agents = [
        AgentSpec("a1", looping, tools=list(TOOLS)),
        AgentSpec("a2", ScriptedBackend("a2", [answer("b"), vote("agent1")])),
    ]
    result = await Coordinator(agents, OrchestratorConfig(), bus).run("q")
    assert answer_of(result) == "5"
    own, reply = looping.seen[0]
    assert {"add", "slow", "broken", "huge"} <= own and reply == ToolReply("5")
    unknown = looping.seen[1][1]  # a failure, marked as one for the framework's model
    assert unknown.is_error and unknown.text.startswith("Error: there is no tool named 'nope'")
    started = [e for e in events if e.type == "tool_call_started" and e.agent_id == "a1"]
    assert [e.name for e in started][:2] == ["add", "nope"]
    assert finished(events, "add")[0].result == "5"


async def test_an_agent_loop_backend_is_bounded_in_tool_calls() -> None:
    looping = LoopingBackend(
        "a1", [answer("done"), vote("agent1")], [("add", {"a": 1, "b": 1})] * 3
    )
    agents = [
        AgentSpec("a1", looping, tools=list(TOOLS)),
        AgentSpec("a2", ScriptedBackend("a2", [answer("b"), vote("agent1")])),
    ]
    config = OrchestratorConfig(max_tool_calls_per_turn=2)
    await Coordinator(agents, config, EventBus()).run("q")
    assert [reply for _, reply in looping.seen[:2]] == [ToolReply("2"), ToolReply("2")]
    assert looping.seen[2][1].is_error and "tool calls are used up" in looping.seen[2][1].text
