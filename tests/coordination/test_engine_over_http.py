"""The engine with the real ``chatcompletion`` backend over HTTP: effects a server can see."""

from __future__ import annotations

import json

from massgen.config.loader import load_config_dict
from massgen.coordination.build import build_coordinator
from massgen.events import EventBus
from tests.fakes.chat_server import FakeChatServer, Reply


def answer(content: str) -> Reply:
    return Reply(tool_calls=[("new_answer", json.dumps({"content": content}))])


def config(url: str, models: list[str]) -> dict:
    return {
        "agents": [
            {"id": m, "backend": {"type": "vllm", "model": m, "base_url": url, "max_retries": 0}}
            for m in models
        ],
        "orchestrator": {"restart_debounce_seconds": 0},
    }


async def test_a_superseded_turn_has_its_http_request_closed():
    with FakeChatServer(tokens_per_second=100) as server:
        server.enqueue_for("m1", answer("a"), answer("a, improved"))
        # m2's review streams ~4 s of text; m1's new answer must cut it short
        server.enqueue_for("m2", answer("b"), Reply(text="pondering " * 400))
        coordinator = build_coordinator(
            load_config_dict(config(server.url, ["m1", "m2"])).config, EventBus()
        )
        result = await coordinator.run("What is 2+2?")
        for agent in coordinator.specs:
            await agent.backend.aclose()
        assert result.ok
        m2_review = [r for r in server.requests if r.model == "m2"][1]
        assert m2_review.client_closed and not m2_review.completed
        assert m2_review.finished_at - m2_review.started_at < 2.0


async def test_every_agent_answers_then_votes_in_exactly_seven_requests():
    with FakeChatServer() as server:
        cfg = load_config_dict(config(server.url, ["m1", "m2", "m3"])).config
        coordinator = build_coordinator(cfg, EventBus())
        result = await coordinator.run("What is 2+2?")
        for agent in coordinator.specs:
            await agent.backend.aclose()
    assert result.ok and len(result.votes) == 3
    assert len(server.requests) == 7 == result.total_usage.requests
    assert result.total_usage.prompt_tokens > 0
    # first answers carry only new_answer; votes offer the labels that have answers
    tools = [[t["function"]["name"] for t in r.body.get("tools", [])] for r in server.requests]
    assert tools.count(["new_answer"]) == 3 and tools.count([]) == 1


async def test_a_workflow_call_streams_its_arguments_before_the_answer_is_submitted():
    with FakeChatServer() as server:
        server.enqueue_for("m1", answer("Four, because two and two make four."))
        bus = EventBus()
        events: list = []
        bus.add_listener(events.append)
        coordinator = build_coordinator(load_config_dict(config(server.url, ["m1"])).config, bus)
        result = await coordinator.run("What is 2+2?")
        for agent in coordinator.specs:
            await agent.backend.aclose()
    assert result.ok
    kinds = [e.type for e in events]
    submitted = kinds.index("answer_submitted")
    [call] = [e for e in events[:submitted] if e.type == "tool_call_started"]
    pieces = [e for e in events if e.type == "tool_arguments_delta" and e.call_id == call.call_id]
    assert len(pieces) > 1 and all(events.index(p) < submitted for p in pieces)
    assert {(p.agent_id, p.name) for p in pieces} == {("m1", "new_answer")}
    assert "".join(p.text for p in pieces) == call.arguments
    assert json.loads(call.arguments) == {"content": "Four, because two and two make four."}
    assert events[submitted].content == "Four, because two and two make four."
