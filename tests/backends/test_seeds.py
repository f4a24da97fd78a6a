"""``seed`` reaches every API that takes one, per backend (as eval's self-consistency samples
get theirs: one copy of the agent's config per sample), and is refused in one line by the
APIs that have none."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from massgen.backends.registry import create_backend
from massgen.config.loader import load_config_dict
from massgen.config.schema import BackendConfig
from massgen.errors import ConfigurationError
from massgen.messages import Message, TextChunk
from massgen.providers import PRESETS
from tests.fakes.chat_server import FakeChatServer
from tests.fakes.gemini_server import FakeGeminiServer

QUESTION = [Message("user", "What is 2+2?")]


@pytest.fixture(scope="module")
def chat() -> Iterator[FakeChatServer]:
    with FakeChatServer() as server:
        yield server


@pytest.fixture(scope="module")
def gemini() -> Iterator[FakeGeminiServer]:
    with FakeGeminiServer() as server:
        yield server


async def ask(config: BackendConfig) -> str:
    backend = create_backend(config)
    try:
        chunks = [chunk async for chunk in backend.stream(QUESTION)]
    finally:
        await backend.aclose()
    return "".join(c.text for c in chunks if isinstance(c, TextChunk))


def fields(kind: str, url: str) -> dict[str, Any]:
    if kind == "azure_openai":  # the resource's endpoint; the deployment goes in the path
        return {
            "type": kind,
            "base_url": url.removesuffix("/v1"),
            "deployment_name": "d1",
            "api_version": "2024-10-21",
            "api_key": "k",
        }
    model = "gemini-2.5-flash" if kind == "gemini" else "some-model"
    return {"type": kind, "model": model, "base_url": url, "api_key": "k"}


@pytest.mark.parametrize("kind", sorted({*PRESETS, "azure_openai", "gemini"}))
async def test_each_sample_s_own_seed_is_in_its_request(
    kind: str, chat: FakeChatServer, gemini: FakeGeminiServer
) -> None:
    server: Any = gemini if kind == "gemini" else chat
    server.reset()
    config = BackendConfig(**fields(kind, server.url), seed=100)
    for sample in range(3):  # what eval's runner does: seed, seed+1, ...
        await ask(config.model_copy(update={"seed": 100 + sample}))
    if kind == "gemini":
        sent = [r.body["generationConfig"].get("seed") for r in server.requests]
    else:
        sent = [r.body.get("seed") for r in server.requests]
    assert sent == [100, 101, 102]


async def test_an_ag2_agent_sends_the_seed_of_its_llm_config(chat: FakeChatServer) -> None:
    pytest.importorskip("autogen", reason="the ag2 extra is not installed")
    chat.reset()
    llm = {"config_list": [{"model": "gpt-4o", "base_url": chat.url, "api_key": "k"}]}
    config = BackendConfig.model_validate(
        {"type": "ag2", "llm_config": {**llm, "seed": 7, "temperature": 0}}
    )
    await ask(config)
    [request] = chat.requests
    assert request.body["seed"] == 7
    assert request.body["temperature"] == 0  # a zero is a setting too


@pytest.mark.parametrize(
    ("kind", "line"),
    [
        (
            "openai",
            "seed: the openai API has no sampling seed; repeated calls differ by sampling "
            "(temperature); type chatcompletion reaches OpenAI's models through Chat "
            "Completions, which takes one",
        ),
        (
            "claude",
            "seed: the claude API has no sampling seed; repeated calls differ by sampling "
            "(temperature)",
        ),
        ("claude_code", "seed: Claude Code chooses its own sampling and output length"),
        ("ag2", "seed: for ag2, give it in llm_config"),
    ],
)
def test_a_seed_the_api_cannot_take_is_refused_in_one_line(kind: str, line: str) -> None:
    backend: dict[str, Any] = {"type": kind, "seed": 3}
    if kind == "ag2":
        backend["llm_config"] = {"config_list": [{"model": "m", "api_key": "k"}]}
    elif kind != "claude_code":
        backend["model"] = "m"
    with pytest.raises(ConfigurationError) as caught:
        load_config_dict({"agents": [{"backend": backend}]})
    message = str(caught.value)
    assert "\n" not in message and f"agents[0].backend: {line}" in message
