"""Planning mode, with a real MCP server (the tests' own, official SDK): while the agents
coordinate, a tool that changes things is planned, not called (the model is told so, the
event says so, the plan goes with the answer for the others to read); read-only tools run;
the final presenter's calls are made. Configs where nobody would make the planned calls are
refused."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from massgen.config.loader import load_config_dict
from massgen.config.schema import OrchestratorConfig
from massgen.config.tool_config import MCPServerConfig
from massgen.coordination.coordinator import Coordinator
from massgen.coordination.state import AgentSpec
from massgen.errors import ConfigurationError
from massgen.events import EventBus
from massgen.tools.mcp import MCPHub
from tests.support.scripted import ScriptedBackend, Step, answer, say, vote

SERVER = {"name": "own", "command": sys.executable, "args": ["-m", "tests.fakes.mcp_server"]}


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


async def test_calls_that_change_things_wait_for_the_final_presenter(tmp_path: Path) -> None:
    log = tmp_path / "effects.log"
    planner = ScriptedBackend(
        "a1",
        [
            Step(
                calls=[
                    ("mcp__own__append", {"log": str(log), "text": "from a1"}),
                    ("mcp__own__echo", {"text": "hi"}),  # readOnlyHint: runs
                    ("mcp__own__add", {"a": 2, "b": 3}),  # read_only_tools: runs
                ]
            ),
            answer("a1 appends the line"),
            vote("agent1"),
            Step(calls=[("mcp__own__append", {"log": str(log), "text": "final"})]),
            say("The line is appended."),
        ],
    )
    other = ScriptedBackend("a2", [answer("b"), vote("agent1")])
    server = MCPServerConfig(**SERVER, read_only_tools=["add"])
    agents = [AgentSpec("a1", planner, mcp_servers=[server]), AgentSpec("a2", other)]
    config = OrchestratorConfig(coordination={"enable_planning_mode": True})
    bus = EventBus()
    events: list = []
    bus.add_listener(events.append)
    result = await Coordinator(agents, config, bus).run("append a line")

    assert result.ok and result.final_answer == "The line is appended."
    assert lines(log) == ["final"]  # the planned call was never made; the presenter's was
    finished = {
        (e.name, e.planned): e for e in events if e.type == "tool_call_finished"
    }  # fmt: skip
    planned = finished[("mcp__own__append", True)]
    assert not planned.is_error and planned.result.startswith("Planned, not made:")
    assert finished[("mcp__own__echo", False)].result == "echo: hi"
    assert finished[("mcp__own__add", False)].result == "5"
    assert finished[("mcp__own__append", False)].result == "appended 'final'"

    first = planner.calls[0]
    assert "<PLANNING MODE>" in first.user_text and "mcp__own__append" in first.user_text
    assert "mcp__own__echo" not in first.user_text.split("</PLANNING MODE>")[0]
    (mine,) = (a for a in result.answers if a.agent_id == "a1")
    plan = json.dumps({"log": str(log), "text": "from a1"})
    assert mine.content.startswith("a1 appends the line\n\n<PLANNED TOOL CALLS>")
    assert f"- mcp__own__append {plan}" in mine.content
    assert f"- mcp__own__append {plan}" in other.calls[1].user_text  # the others read it
    presentation = planner.calls[3]
    assert "Your calls are made for real" in presentation.user_text


@pytest.mark.parametrize(
    ("orchestrator", "agents", "says"),
    [
        ({"final_answer": "reuse"}, 2, "final_answer: reuse has none"),
        ({"strategy": "debate"}, 2, "a debate without 'judge'"),
        ({}, 1, "one agent's answer is final without a presentation turn"),
    ],
)
def test_planning_mode_without_a_presenter_is_refused(orchestrator, agents, says) -> None:
    data = {
        "agents": [{"backend": {"type": "vllm", "model": "m"}} for _ in range(agents)],
        "orchestrator": {**orchestrator, "coordination": {"enable_planning_mode": True}},
    }
    with pytest.raises(ConfigurationError) as caught:
        load_config_dict(data, "team.yaml")
    assert "orchestrator.coordination.enable_planning_mode" in str(caught.value)
    assert says in str(caught.value)
    data["orchestrator"]["coordination"]["enable_planning_mode"] = False
    load_config_dict(data, "team.yaml")  # the same config without planning mode is fine
    if orchestrator.get("strategy") == "debate":
        data["orchestrator"].update(judge="agent1", coordination={"enable_planning_mode": True})
        load_config_dict(data, "team.yaml")  # a debate whose judge writes the final answer


@pytest.mark.parametrize(
    ("fields", "side_effects"),
    [
        ({}, {"echo": False, "add": True, "append": True}),  # the server's readOnlyHint
        ({"read_only_tools": ["mcp__own__add"]}, {"echo": False, "add": False, "append": True}),
        ({"read_only": True}, {"echo": False, "add": False, "append": False}),
        ({"read_only": False}, {"echo": True, "add": True, "append": True}),
    ],
)
async def test_which_tools_change_things(fields, side_effects) -> None:
    hub = MCPHub()
    config = MCPServerConfig(**SERVER, **fields)
    hub.add("a1", config)
    hub.start()
    try:
        tools = {t.name.removeprefix("mcp__own__"): t for t in await hub.tools_for("a1", [config])}
    finally:
        await hub.close()
    assert {name: tools[name].side_effects for name in side_effects} == side_effects


def test_read_only_and_read_only_tools_together_are_refused() -> None:
    with pytest.raises(ValueError, match="read_only: true already says it for every tool"):
        MCPServerConfig(**SERVER, read_only=True, read_only_tools=["echo"])
