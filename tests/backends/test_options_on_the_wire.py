"""Every backend option a provider honours reaches its request: one call per backend type
and option against that protocol's fake server, which records the request body. An option
of the table in :data:`massgen.backends.registry.OPTIONS` that is neither checked here nor
named client-side below fails :func:`test_every_option_is_checked_on_the_wire`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from massgen.backends.registry import create_backend
from massgen.config.schema import BackendConfig
from massgen.messages import Message
from massgen.providers import OPTIONS, PRESETS
from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.chat_server import FakeChatServer, RecordedRequest
from tests.fakes.gemini_server import FakeGeminiServer
from tests.fakes.responses_server import FakeResponsesServer

Check = Callable[[RecordedRequest], Any]

#: Options that shape the client, not the request body (each has tests of its own).
CLIENT_SIDE = {
    "vision": "which messages carry images",
    "parallel_requests": "requests in flight at once",
    "port": "the endpoint's URL",
    "self_hosted": "the cost figures",
    "model_path": "the local model's file (no HTTP: tests/backends/test_local.py)",
    "n_ctx": "the local model's context (tests/backends/test_local.py)",
    "n_threads": "the local model's threads (tests/backends/test_local.py)",
    **dict.fromkeys(("cwd", "allowed_tools", "disallowed_tools", "max_turns"), "Claude Code's CLI"),
    **dict.fromkeys(("agent_type", "llm_config", "code_execution_config"), "AG2's agent"),
}

#: Backend types whose requests this file sends (local, claude_code and ag2 make theirs
#: through llama.cpp, the Claude Code CLI and AG2: their own tests look at them).
WIRE_TYPES = sorted({*PRESETS, "azure_openai", "openai", "claude", "gemini"})


def _body(key: str, value: Any) -> Check:
    return lambda request: request.body.get(key) == value


def _cache_key(request: RecordedRequest) -> bool:
    return str(request.body.get("prompt_cache_key", "")).startswith("massgen-")


def _breakpoint(request: RecordedRequest) -> bool:
    return "'cache_control': {'type': 'ephemeral'}" in str(request.body["messages"])


def _tool(kind: str) -> Check:
    return lambda request: any(kind in str(tool) for tool in request.body.get("tools") or ())


CHAT: dict[str, tuple[Any, Check]] = {
    "temperature": (0.37, _body("temperature", 0.37)),
    "top_p": (0.61, _body("top_p", 0.61)),
    "max_tokens": (77, _body("max_tokens", 77)),
    "seed": (4242, _body("seed", 4242)),
    "top_k": (13, _body("top_k", 13)),
    "repetition_penalty": (1.13, _body("repetition_penalty", 1.13)),
    "separate_reasoning": (True, _body("separate_reasoning", True)),
    "extra_body": ({"x_custom": 7}, _body("x_custom", 7)),
    "reasoning": ({"effort": "low"}, _body("reasoning_effort", "low")),
    "text": ({"verbosity": "high"}, _body("verbosity", "high")),
    "enable_web_search": (True, lambda r: r.body["search_parameters"]["mode"] == "auto"),
    "deployment_name": ("my-deploy", lambda r: "/deployments/my-deploy/" in r.path),
    "api_version": ("2024-10-21", lambda r: r.query.get("api-version") == "2024-10-21"),
    "prompt_cache": (True, _cache_key),
}
RESPONSES: dict[str, tuple[Any, Check]] = {
    "temperature": (0.37, _body("temperature", 0.37)),
    "top_p": (0.61, _body("top_p", 0.61)),
    "max_tokens": (77, _body("max_output_tokens", 77)),
    "reasoning": (
        {"effort": "low", "summary": "auto"},
        lambda r: (
            r.body["reasoning"]["effort"] == "low" and r.body["reasoning"]["summary"] == "auto"
        ),
    ),
    "text": ({"verbosity": "high"}, lambda r: r.body["text"]["verbosity"] == "high"),
    "enable_web_search": (True, _tool("web_search")),
    "enable_code_interpreter": (True, _tool("code_interpreter")),
    "enable_code_execution": (True, _tool("code_interpreter")),
    "prompt_cache": (True, _cache_key),
}
MESSAGES: dict[str, tuple[Any, Check]] = {
    "temperature": (0.37, _body("temperature", 0.37)),
    "top_p": (0.61, _body("top_p", 0.61)),
    "max_tokens": (77, _body("max_tokens", 77)),
    "top_k": (13, _body("top_k", 13)),
    "thinking_budget": (2048, lambda r: r.body["thinking"]["budget_tokens"] == 2048),
    "enable_web_search": (True, _tool("web_search")),
    "enable_code_execution": (True, _tool("code_execution")),
    "enable_code_interpreter": (True, _tool("code_execution")),
    "prompt_cache": (True, _breakpoint),
}
GEMINI: dict[str, tuple[Any, Check]] = {
    "temperature": (0.37, lambda r: r.body["generationConfig"]["temperature"] == 0.37),
    "top_p": (0.61, lambda r: r.body["generationConfig"]["topP"] == 0.61),
    "max_tokens": (77, lambda r: r.body["generationConfig"]["maxOutputTokens"] == 77),
    "seed": (4242, lambda r: r.body["generationConfig"]["seed"] == 4242),
    "top_k": (13, lambda r: r.body["generationConfig"]["topK"] == 13),
    "thinking_budget": (
        512,
        # google-genai 3.x sends this one in snake case; the API takes both spellings
        lambda r: 512 in r.body["generationConfig"]["thinkingConfig"].values(),
    ),
    "safety_settings": (
        {"HARM_CATEGORY_HARASSMENT": "BLOCK_ONLY_HIGH"},
        lambda r: r.body["safetySettings"][0]["threshold"] == "BLOCK_ONLY_HIGH",
    ),
    "enable_web_search": (True, _tool("googleSearch")),
    "enable_code_execution": (True, _tool("codeExecution")),
    "enable_code_interpreter": (True, _tool("codeExecution")),
}
PROTOCOL = {"openai": RESPONSES, "claude": MESSAGES, "gemini": GEMINI}


def _cases() -> list[tuple[str, str]]:
    return [
        (kind, option)
        for kind in WIRE_TYPES
        for option, rule in OPTIONS.items()
        if kind in rule.types and option not in CLIENT_SIDE
    ]


def test_every_option_is_checked_on_the_wire():
    for kind, option in _cases():
        assert option in PROTOCOL.get(kind, CHAT), f"{option} on {kind}: no wire check"
    assert set(OPTIONS) - set(CLIENT_SIDE) <= {o for _, o in _cases()} | set(CLIENT_SIDE)


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, FakeChatServer]]:
    with (
        FakeChatServer() as chat,
        FakeResponsesServer() as responses,
        FakeAnthropicServer() as anthropic,
        FakeGeminiServer() as gemini,
    ):
        yield {"chat": chat, "openai": responses, "claude": anthropic, "gemini": gemini}


@pytest.mark.parametrize(("kind", "option"), _cases())
async def test_an_accepted_option_reaches_the_request(servers, kind, option):
    server = servers.get(kind, servers["chat"])
    server.reset()
    value, check = PROTOCOL.get(kind, CHAT)[option]
    if kind == "azure_openai" and option == "max_tokens":  # Azure's name, as OpenAI's
        check = _body("max_completion_tokens", value)
    fields: dict[str, Any] = {
        "type": kind,
        "model": "gemini-2.5-flash" if kind == "gemini" else "some-model",
        "base_url": server.url,
        "api_key": "sk-test-key",
        option: value,
    }
    if kind == "azure_openai":  # the resource's endpoint; the SDK adds /openai/...
        fields["base_url"] = server.url.removesuffix("/v1")
        fields.setdefault("deployment_name", "d1")
        fields.setdefault("api_version", "2024-10-21")
    if option == "thinking_budget" and kind == "claude":
        fields["max_tokens"] = 4096  # Anthropic: more than the thinking budget
    backend = create_backend(BackendConfig(**fields))
    try:
        # marked as a coordination turn's shared prompt (for prompt_cache)
        question = Message("user", "What is 2+2?", shared_chars=12)
        async for _ in backend.stream([question]):
            pass
    finally:
        await backend.aclose()
    assert len(server.requests) == 1
    request = server.requests[0]
    assert check(request), f"{option}={value!r} not in {kind}'s request: {request.body}"


#: A value of each option that its own backends accept (for the refusal test below).
SAMPLE: dict[str, Any] = {
    **{option: value for option, (value, _) in {**CHAT, **GEMINI, **RESPONSES}.items()},
    "vision": True,
    "parallel_requests": 2,
    "port": 8000,
    "self_hosted": True,
    "model_path": "m.gguf",
    "n_ctx": 2048,
    "n_threads": 2,
    "cwd": "work",
    "allowed_tools": ["Read"],
    "disallowed_tools": ["Bash"],
    "max_turns": 3,
    "agent_type": "ConversableAgent",
    "llm_config": {"config_list": [{"model": "m"}]},
    "code_execution_config": {"executor": "local"},
}
ALL_TYPES = sorted({*PRESETS, "azure_openai", "openai", "claude", "gemini", "local", "claude_code"})


@pytest.mark.parametrize(
    ("kind", "option"),
    [(k, o) for o, rule in OPTIONS.items() for k in ALL_TYPES if k not in rule.types],
)
def test_an_option_its_backend_cannot_honour_is_refused_when_the_config_loads(kind, option):
    from massgen.config.loader import load_config_dict
    from massgen.errors import ConfigurationError

    backend = {"type": kind, "model": "m", option: SAMPLE[option]}
    with pytest.raises(ConfigurationError, match=rf"agents\[0\]\.backend: {option}: "):
        load_config_dict({"agents": [{"backend": backend}]})
