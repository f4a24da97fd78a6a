"""The final answer's call (``Backend.final_call``: ``orchestrator.final_answer_max_tokens`` and
``final_answer_stop``, a server request's ``max_tokens`` and ``stop``) reaches each protocol's
request, and only that call: one call inside and one after, against each fake server; the
local backend's real model stops where they say."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from massgen.backends.registry import create_backend
from massgen.config.schema import BackendConfig
from massgen.messages import Message, TextChunk
from massgen.providers import PRESETS, STOP
from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.chat_server import FakeChatServer, RecordedRequest
from tests.fakes.gemini_server import FakeGeminiServer
from tests.fakes.responses_server import FakeResponsesServer

Read = Callable[[RecordedRequest], tuple[Any, Any]]


def _chat(request: RecordedRequest) -> tuple[Any, Any]:
    body = request.body
    return body.get("max_tokens", body.get("max_completion_tokens")), body.get("stop")


def _claude(request: RecordedRequest) -> tuple[Any, Any]:
    return request.body.get("max_tokens"), request.body.get("stop_sequences")


def _gemini(request: RecordedRequest) -> tuple[Any, Any]:
    config = request.body.get("generationConfig") or {}
    return config.get("maxOutputTokens"), config.get("stopSequences")


READ: dict[str, Read] = {"claude": _claude, "gemini": _gemini}
#: What each backend asks for outside the final call (its config sets no max_tokens).
OWN_MAX_TOKENS = {"claude": 4096}


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, FakeChatServer]]:
    with (
        FakeChatServer() as chat,
        FakeResponsesServer() as responses,
        FakeAnthropicServer() as anthropic,
        FakeGeminiServer() as gemini,
    ):
        yield {"chat": chat, "openai": responses, "claude": anthropic, "gemini": gemini}


def _backend(kind: str, server: FakeChatServer, **extra: Any) -> Any:
    fields: dict[str, Any] = {
        "type": kind,
        "model": "gemini-2.5-flash" if kind == "gemini" else "some-model",
        "base_url": server.url,
        "api_key": "sk-test-key",
        **extra,
    }
    if kind == "azure_openai":
        fields["base_url"] = server.url.removesuffix("/v1")
        fields.update(deployment_name="d1", api_version="2024-10-21")
    return create_backend(BackendConfig(**fields))


async def _call(backend: Any) -> None:
    async for _ in backend.stream([Message("user", "What is 2+2?")]):
        pass


@pytest.mark.parametrize("kind", sorted({*PRESETS, "azure_openai", "claude", "gemini"}))
async def test_the_final_calls_cap_and_stop_sequences_reach_its_request_only(servers, kind):
    assert kind in STOP.types
    server = servers.get(kind, servers["chat"])
    server.reset()
    backend = _backend(kind, server)
    try:
        with backend.final_call(77, ["<END>", "\n\n"]):
            await _call(backend)
        await _call(backend)
    finally:
        await backend.aclose()
    read = READ.get(kind, _chat)
    assert read(server.requests[0]) == (77, ["<END>", "\n\n"])
    assert read(server.requests[1]) == (OWN_MAX_TOKENS.get(kind), None)


async def test_the_configs_own_max_tokens_bounds_the_final_call(servers):
    server = servers["chat"]
    server.reset()
    backend = _backend("vllm", server, max_tokens=20)
    try:
        with backend.final_call(77):
            await _call(backend)
        with backend.final_call(5):
            await _call(backend)
    finally:
        await backend.aclose()
    assert [_chat(r)[0] for r in server.requests] == [20, 5]


async def test_a_backend_without_stop_sequences_refuses_them(servers):
    backend = _backend("openai", servers["openai"])
    assert "openai" not in STOP.types
    with (
        pytest.raises(ValueError, match="openai cannot send stop sequences"),
        backend.final_call(None, ["x"]),
    ):
        pass
    await backend.aclose()


async def test_the_local_model_stops_where_the_final_call_says():
    backend = create_backend(BackendConfig(type="local", max_tokens=48, temperature=0.2, seed=1))
    messages = [
        Message("system", "You give short answers."),
        Message("user", "What is the capital of France? Answer in one sentence."),
    ]

    async def text() -> str:
        chunks = [chunk async for chunk in backend.stream(messages)]
        return "".join(c.text for c in chunks if isinstance(c, TextChunk))

    whole = await text()
    with backend.final_call(None, [" "]):
        first_word = await text()
    with backend.final_call(3):
        three_tokens = await text()
    assert len(whole.split()) > 3
    assert first_word == whole.split()[0]
    assert len(three_tokens.split()) <= 3 and whole.startswith(three_tokens)
