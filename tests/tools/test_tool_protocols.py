"""The tool loop over every wire protocol: a fake provider (Chat Completions, Responses,
Messages, Gemini) calls the agent's custom tool, gets the result back in its own protocol's
shape (a ``tool`` message, a ``function_call_output``, a ``tool_result`` block, a
``functionResponse``), and answers with it."""

from __future__ import annotations

from typing import Any

import pytest

import massgen
from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.chat_server import CoordinationBrain, FakeChatServer
from tests.fakes.gemini_server import FakeGeminiServer
from tests.fakes.responses_server import FakeResponsesServer


def secret_number(salt: str) -> str:
    """The secret number for a salt."""
    return f"417-{salt}"


def _tool_results(kind: str, body: dict[str, Any]) -> list[str]:
    """The tool results a request carried, read in its protocol's own shape."""
    if kind == "chat":
        return [m["content"] for m in body["messages"] if m.get("role") == "tool"]
    if kind == "responses":
        return [i["output"] for i in body["input"] if i.get("type") == "function_call_output"]
    if kind == "anthropic":
        return [
            b.get("content")
            for m in body["messages"]
            if isinstance(m.get("content"), list)
            for b in m["content"]
            if b.get("type") == "tool_result"
        ]
    return [
        str(p["functionResponse"]["response"])
        for c in body["contents"]
        for p in c.get("parts", [])
        if "functionResponse" in p
    ]


CASES = {
    "chat": (FakeChatServer, {"type": "vllm", "model": "m"}),
    "responses": (FakeResponsesServer, {"type": "openai", "model": "gpt-5-mini", "api_key": "k"}),
    "anthropic": (
        FakeAnthropicServer,
        {"type": "claude", "model": "claude-sonnet-4-5", "api_key": "k"},
    ),
    "gemini": (FakeGeminiServer, {"type": "gemini", "model": "gemini-2.5-flash", "api_key": "k"}),
}


@pytest.mark.parametrize("kind", sorted(CASES))
async def test_a_tool_result_reaches_the_model_in_its_protocols_shape(kind: str) -> None:
    server_class, backend = CASES[kind]
    brain = CoordinationBrain(tool_plan={"secret_number": {"salt": "abc"}})
    with server_class(brain=brain) as fake:
        config = {"agents": [{"id": "solo", "backend": {**backend, "base_url": fake.url}}]}
        result = await massgen.run(
            "What is the secret number?", config=config, tools=[secret_number]
        )
        bodies = [r.body for r in fake.requests]
    assert "417-abc" in result["final_answer"]
    assert len(bodies) == 2  # the tool call, then the answer with its result
    assert any("417-abc" in str(r) for r in _tool_results(kind, bodies[1]))
    offered = str(bodies[0].get("tools"))
    assert "secret_number" in offered and "new_answer" in offered
