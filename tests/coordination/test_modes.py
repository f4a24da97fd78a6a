"""Workflow modes: a model that cannot call tools still answers (JSON or text), votes with a
``VOTE:`` line, and ``auto`` moves an agent to the next mode after an invalid attempt."""

from __future__ import annotations

import json

import pytest

from massgen.config.schema import OrchestratorConfig
from massgen.coordination import modes, workflow
from massgen.coordination.coordinator import Coordinator
from massgen.coordination.state import AgentSpec
from massgen.events import EventBus
from tests.fakes.chat_server import FakeChatServer, Reply
from tests.support.scripted import ScriptedBackend, answer, say, vote

FIRST = workflow.tool_specs(workflow.TurnRules((), True, 3, ()))
REVIEW = workflow.tool_specs(
    workflow.TurnRules(("agent1", "agent2"), True, 3, (("agent1.1", "a"), ("agent2.1", "b")))
)
VOTE_ONLY = workflow.tool_specs(workflow.TurnRules(("agent1", "agent2"), False, 1, ()))


@pytest.mark.parametrize(
    ("text", "target", "reason"),
    [
        ("VOTE: agent2 — it is complete", "agent2", "it is complete"),
        ("I compared them.\n**Vote:** Agent 2 - clearer", "agent2", "clearer"),
        ("vote = agent1", "agent1", ""),
        ("VOTE: agent1 - first\nactually...\nVOTE: [agent2]: better", "agent2", "better"),
        ("> Vote: `agent2`, concise", "agent2", "concise"),
    ],
)
def test_a_vote_line_is_read_leniently(text: str, target: str, reason: str) -> None:
    call = modes.parse_text_action(text, REVIEW, "c")
    assert call is not None and call.name == "vote"
    assert call.parsed_arguments() == {"agent_id": target, "reason": reason}


def test_text_without_a_vote_line_is_an_answer_when_answering_is_allowed() -> None:
    call = modes.parse_text_action("Answer: Paris is the capital.", REVIEW, "c")
    assert call is not None and call.name == "new_answer"
    assert call.parsed_arguments() == {"content": "Paris is the capital."}
    assert modes.parse_text_action("I think agent2 is nice", VOTE_ONLY, "c") is None


@pytest.mark.parametrize(
    "text",
    [
        '```json\n{"action": "new_answer", "content": "Paris"}\n```',
        'Sure! {"action": "new_answer", "content": "Paris"} Hope that helps.',
        '{"action": "new_answer", "content": "Paris',  # cut off by max_tokens
        '{"content": "Paris"}',  # the only choice, not named
    ],
)
def test_json_replies_are_parsed_leniently(text: str) -> None:
    call = modes.parse_json_action(text, FIRST, "c")
    assert call is not None and call.name == "new_answer"
    assert call.parsed_arguments() == {"content": "Paris"}


def test_a_raw_newline_inside_a_json_string_is_kept() -> None:
    call = modes.parse_json_action(
        '{"action": "vote", "agent_id": "agent1", "reason": "a\nb"}', REVIEW, "c"
    )
    assert call is not None and call.parsed_arguments()["reason"] == "a\nb"


def test_the_json_schema_offers_exactly_the_turns_actions() -> None:
    schema = modes.action_schema(REVIEW, max_chars=50)
    actions = [option["properties"]["action"]["const"] for option in schema["oneOf"]]
    assert actions == ["new_answer", "vote"]
    assert schema["oneOf"][1]["properties"]["agent_id"]["enum"] == ["agent1", "agent2"]
    assert schema["oneOf"][0]["properties"]["content"]["maxLength"] == 50


async def _run(*backends: ScriptedBackend, **orchestrator):
    bus = EventBus()
    events = []
    bus.add_listener(events.append)
    agents = [AgentSpec(id=f"a{i}", backend=b) for i, b in enumerate(backends, 1)]
    result = await Coordinator(agents, OrchestratorConfig(**orchestrator), bus).run("q")
    return result, events


async def test_auto_moves_an_agent_from_tools_to_json_after_an_invalid_attempt() -> None:
    prose_then_json = ScriptedBackend(
        "a1",
        [
            say("I think the answer is 4."),
            say('{"action": "new_answer", "content": "4"}'),
            say('{"action": "vote", "agent_id": "agent1", "reason": "right"}'),
        ],
        workflow_mode="auto",
    )
    other = ScriptedBackend("a2", [answer("four"), vote("agent1")])
    result, events = await _run(prose_then_json, other)
    changed = [e for e in events if e.type == "workflow_mode_changed"]
    assert [(e.agent_id, e.previous, e.mode) for e in changed] == [("a1", "tools", "json")]
    assert result.answers[0].content == "4" and result.ok
    json_call = prose_then_json.calls[1]
    assert json_call.tools == [] and json_call.response_format is not None  # no tools on the wire
    assert "JSON object" in json_call.messages[0].content
    # the agent stays in json mode for its next turn
    assert prose_then_json.calls[2].response_format is not None


async def test_text_mode_votes_with_a_vote_line() -> None:
    texter = ScriptedBackend(
        "a1",
        [say("Paris."), say("Both fine.\nVOTE: agent2 - it cites a source")],
        workflow_mode="text",
    )
    other = ScriptedBackend("a2", [answer("Paris (source: atlas)."), vote("agent2")])
    result, events = await _run(texter, other)
    assert result.ok and result.winner == "a2" and result.tally == {"agent2": 2}
    votes = [e for e in events if e.type == "vote_cast" and e.agent_id == "a1"]
    assert votes[0].reason == "it cites a source"


async def test_a_local_server_that_refuses_json_schema_gets_json_object() -> None:
    from massgen.backends.registry import create_backend
    from massgen.config.schema import BackendConfig

    with FakeChatServer() as server:
        server.enqueue(
            Reply(
                status=500, error_message="1 validation error: response_format.type: json_schema"
            ),
            Reply(text='{"action": "new_answer", "content": "4"}'),
        )
        backend = create_backend(BackendConfig(type="vllm", model="m", base_url=server.url))
        json_mode = modes.ModeBackend(backend, "json")
        chunks = [c async for c in json_mode.stream([], FIRST)]
        first, second = (r.body.get("response_format") for r in server.requests)
        await backend.aclose()
    assert first["type"] == "json_schema" and first["json_schema"]["schema"]["required"] == [
        "action",
        "content",
    ]
    assert second == {"type": "json_object", "schema": first["json_schema"]["schema"]}
    calls = [c.call for c in chunks if hasattr(c, "call")]
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [("new_answer", {"content": "4"})]


async def test_a_text_mode_agent_is_reminded_of_the_vote_line_not_of_tools() -> None:
    texter = ScriptedBackend(
        "a1", [say("Paris."), say(""), say("VOTE: agent1 - mine")], workflow_mode="text"
    )
    other = ScriptedBackend("a2", [answer("Lyon."), vote("agent1")])
    result, events = await _run(texter, other)
    (invalid,) = [e for e in events if e.type == "invalid_action"]
    assert "VOTE: agent2" in invalid.message and "calling exactly one tool" not in invalid.message
    assert result.ok
