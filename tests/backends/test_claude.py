"""The ``claude`` backend through the real anthropic SDK against the fake Messages API."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from massgen.backends.base import Backend
from massgen.backends.claude import ClaudeBackend
from massgen.backends.errors import (
    AuthenticationError,
    BackendConnectionError,
    BackendTimeoutError,
    ContextLengthError,
    ProviderError,
    RateLimitError,
)
from massgen.backends.registry import create_backend
from massgen.backends.retry import RetryPolicy, stream_with_retries
from massgen.config.loader import load_config_dict
from massgen.config.schema import BackendConfig
from massgen.coordination.build import build_coordinator
from massgen.errors import ConfigurationError
from massgen.events import EventBus
from massgen.messages import (
    DoneChunk,
    Message,
    ProviderToolChunk,
    ReasoningChunk,
    TextChunk,
    ToolArgumentsChunk,
    ToolCall,
    ToolCallChunk,
    ToolSpec,
    UsageChunk,
)
from tests.backends.conftest import API_KEY, collect
from tests.fakes.anthropic_server import (
    CODE_EXECUTION_BETA,
    ClaudeReply,
    FakeAnthropicServer,
    Reply,
)

ROOT = Path(__file__).resolve().parents[2]
FAST = RetryPolicy(max_attempts=3, initial_delay=0.01, max_delay=0.05)
ANSWER_TOOL = ToolSpec(
    "new_answer",
    "Submit an answer",
    {"type": "object", "properties": {"content": {"type": "string"}}, "required": ["content"]},
)


@pytest.fixture(scope="module")
def anthropic_server() -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def server(anthropic_server: FakeAnthropicServer) -> Iterator[FakeAnthropicServer]:
    """The module's server with empty queues and no recorded requests."""
    anthropic_server.reset()
    yield anthropic_server
    anthropic_server.reset()


@pytest.fixture
async def make_backend(server: FakeAnthropicServer) -> AsyncIterator[Any]:
    """Build claude backends through the registry (closed after the test)."""
    made: list[Backend] = []

    def make(**fields: Any) -> ClaudeBackend:
        values = {
            "type": "claude",
            "model": "claude-test",
            "base_url": server.url,
            "api_key": API_KEY,
            **fields,
        }
        backend = create_backend(BackendConfig(**values))
        made.append(backend)
        return backend

    yield make
    for backend in made:
        await backend.aclose()


def text_of(chunks: list) -> str:
    return "".join(c.text for c in chunks if isinstance(c, TextChunk))


def calls_of(chunks: list) -> list[ToolCall]:
    return [c.call for c in chunks if isinstance(c, ToolCallChunk)]


def provider_tools(chunks: list) -> list[ProviderToolChunk]:
    return [c for c in chunks if isinstance(c, ProviderToolChunk)]


# ------------------------------------------------------------------------- streaming


async def test_streams_text_deltas_then_usage_and_done(server, make_backend):
    server.enqueue(Reply(text="Four, because two plus two is four."))
    chunks = await collect(make_backend())

    assert len([c for c in chunks if isinstance(c, TextChunk)]) > 3  # deltas, not one block
    assert text_of(chunks) == "Four, because two plus two is four."
    assert isinstance(chunks[-2], UsageChunk) and chunks[-1] == DoneChunk("end_turn")
    request = server.requests[0]
    assert request.body["stream"] is True and request.body["model"] == "claude-test"
    assert request.body["max_tokens"] == 4096  # required by the API: a default is sent
    assert request.headers["anthropic-version"]
    assert API_KEY in request.headers["authorization"]


async def test_non_stream_mode_yields_the_same_chunks(server, make_backend):
    server.enqueue(
        Reply(text="Four.", reasoning="2+2", tool_calls=[("new_answer", '{"content": "4"}')])
    )
    chunks = await collect(make_backend(stream=False, thinking_budget=2048), tools=[ANSWER_TOOL])

    assert "stream" not in server.requests[0].body
    assert [type(c) for c in chunks] == [
        ReasoningChunk,
        TextChunk,
        ToolCallChunk,
        UsageChunk,
        DoneChunk,
    ]
    assert chunks[0].text == "2+2" and text_of(chunks) == "Four."
    assert calls_of(chunks)[0].parsed_arguments() == {"content": "4"}
    assert chunks[-1] == DoneChunk("tool_use")


async def test_converts_messages_tools_and_settings(server, make_backend):
    calls = [ToolCall("toolu_1", "read", '{"path": "a"}'), ToolCall("toolu_2", "read", "{}")]
    messages = [
        Message("system", "Be brief."),
        Message("system", "Use tools."),
        Message("user", "Read a and b"),
        Message("assistant", "Reading.", tool_calls=calls),
        Message("tool", "A!", tool_call_id="toolu_1", name="read"),
        Message("tool", "B!", tool_call_id="toolu_2", name="read"),
        Message("assistant", ""),  # the engine's feedback after a turn without a tool call
        Message("user", "Call a tool."),
    ]
    backend = make_backend(temperature=0.3, top_p=0.9, max_tokens=64)
    await collect(backend, messages, [ANSWER_TOOL])

    body = server.requests[0].body
    assert body["system"] == "Be brief.\n\nUse tools."
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Read a and b"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Reading."},
                {"type": "tool_use", "id": "toolu_1", "name": "read", "input": {"path": "a"}},
                {"type": "tool_use", "id": "toolu_2", "name": "read", "input": {}},
            ],
        },
        {
            "role": "user",  # both results in one message, then the next user text
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "A!"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": "B!"},
                {"type": "text", "text": "Call a tool."},
            ],
        },
    ]
    assert body["tools"] == [
        {
            "name": "new_answer",
            "description": "Submit an answer",
            "input_schema": ANSWER_TOOL.parameters,
        }
    ]
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.3, 0.9, 64)


async def test_malformed_tool_arguments_are_sent_as_an_empty_input(server, make_backend):
    messages = [
        Message("user", "q"),
        Message("assistant", "", tool_calls=[ToolCall("toolu_1", "new_answer", '{"content": ')]),
        Message("tool", "Error: arguments are not valid JSON", tool_call_id="toolu_1"),
    ]
    chunks = await collect(make_backend(), messages, [ANSWER_TOOL])

    assert isinstance(chunks[-1], DoneChunk)  # the API accepted the pair
    use = server.requests[0].body["messages"][1]["content"][0]
    assert use == {"type": "tool_use", "id": "toolu_1", "name": "new_answer", "input": {}}


async def test_assembles_one_streamed_tool_use(server, make_backend):
    arguments = '{"content": "The answer is 4 because 2 + 2 = 4."}'
    server.enqueue(Reply(tool_calls=[("new_answer", arguments)]))
    chunks = await collect(make_backend(), tools=[ANSWER_TOOL])

    [call] = calls_of(chunks)
    assert call.name == "new_answer" and call.id.startswith("toolu_")
    assert call.arguments == arguments  # joined from several input_json_delta pieces
    assert chunks[-1] == DoneChunk("tool_use")


async def test_assembles_two_parallel_tool_use_blocks(server, make_backend):
    server.enqueue(
        Reply(
            text="Checking both.",
            tool_calls=[("read", '{"path": "a.txt"}'), ("read", '{"path": "bb.txt"}'), ("ls", "")],
        )
    )
    chunks = await collect(make_backend(), tools=[ANSWER_TOOL])

    calls = calls_of(chunks)
    assert [c.name for c in calls] == ["read", "read", "ls"]
    assert [c.parsed_arguments() for c in calls] == [{"path": "a.txt"}, {"path": "bb.txt"}, {}]
    assert calls[2].arguments == "{}"  # no input pieces at all
    assert len({c.id for c in calls}) == 3
    assert text_of(chunks) == "Checking both."


async def test_thinking_streams_reasoning_and_sets_the_budget(server, make_backend):
    server.enqueue(Reply(reasoning="Two and two make four.", text="4", reasoning_tokens=9))
    chunks = await collect(make_backend(thinking_budget=2048, temperature=0.5, top_p=0.9))

    reasoning = [c for c in chunks if isinstance(c, ReasoningChunk)]
    assert len(reasoning) > 1 and "".join(c.text for c in reasoning) == "Two and two make four."
    first_text = next(i for i, c in enumerate(chunks) if isinstance(c, TextChunk))
    assert chunks.index(reasoning[-1]) < first_text
    [usage] = [c for c in chunks if isinstance(c, UsageChunk)]
    assert usage.reasoning_tokens == 9
    body = server.requests[0].body
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["max_tokens"] > 2048
    assert "temperature" not in body and "top_p" not in body  # not allowed with thinking


def test_thinking_budget_and_max_tokens_meet_the_api_minimums():
    config = BackendConfig(type="claude", model="m", thinking_budget=500, max_tokens=1000)
    params = ClaudeBackend(config, api_key="k").request_params([Message("user", "hi")])
    assert params["thinking"]["budget_tokens"] == 1024
    assert params["max_tokens"] == 2024  # the answer's 1000 on top of the budget


async def test_thinking_is_left_out_when_continuing_a_tool_turn(server, make_backend):
    # massgen keeps no signed thinking blocks; the API would reject this turn with thinking on
    messages = [
        Message("user", "q"),
        Message("assistant", "", tool_calls=[ToolCall("toolu_1", "new_answer", "{}")]),
        Message("tool", "Error: content is required", tool_call_id="toolu_1"),
    ]
    chunks = await collect(make_backend(thinking_budget=2048), messages, [ANSWER_TOOL])

    assert isinstance(chunks[-1], DoneChunk)  # accepted
    assert "thinking" not in server.requests[0].body


async def test_web_search_yields_provider_tool_chunks(server, make_backend):
    results = [("Rayleigh scattering", "https://a.example"), ("Sky", "https://b.example")]
    server.enqueue(
        ClaudeReply(
            web_searches=[("why is the sky blue", results)], text="Rayleigh.", prompt_tokens=10
        )
    )
    chunks = await collect(make_backend(enable_web_search=True), tools=[ANSWER_TOOL])

    started, finished = provider_tools(chunks)
    assert (started.name, started.status, started.detail) == (
        "web_search",
        "started",
        "why is the sky blue",
    )
    assert (finished.name, finished.status) == ("web_search", "finished")
    assert finished.call_id == started.call_id
    assert finished.detail == "2 results: Rayleigh scattering; Sky"
    assert chunks.index(finished) < next(
        i for i, c in enumerate(chunks) if isinstance(c, TextChunk)
    )
    assert not calls_of(chunks)  # the engine never answers a provider's own tool
    tools = server.requests[0].body["tools"]
    assert tools[-1] == {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}
    # message_delta's cumulative input (with the search results) wins over message_start's
    [usage] = [c for c in chunks if isinstance(c, UsageChunk)]
    assert usage.prompt_tokens == 110


async def test_code_execution_sends_the_beta_header(server, make_backend):
    server.enqueue(ClaudeReply(code_executions=[("print(2 + 2)", "4\n", 0)], text="It is 4."))
    chunks = await collect(make_backend(enable_code_execution=True, stream=False))

    started, finished = provider_tools(chunks)
    assert (started.name, started.detail) == ("code_execution", "print(2 + 2)")
    assert (finished.name, finished.detail) == ("code_execution", "exit 0: 4")
    request = server.requests[0]
    assert CODE_EXECUTION_BETA in request.headers["anthropic-beta"]
    assert request.body["tools"] == [{"type": "code_execution_20250522", "name": "code_execution"}]


@pytest.mark.parametrize("stream", [True, False])
async def test_usage_counts_cache_reads_and_writes_as_input(server, make_backend, stream):
    server.enqueue(
        ClaudeReply(
            text="ok",
            prompt_tokens=100,
            cached_tokens=50,
            cache_creation_tokens=20,
            completion_tokens=30,
        )
    )
    chunks = await collect(make_backend(stream=stream))

    expected = UsageChunk(
        prompt_tokens=170, completion_tokens=30, cached_tokens=50, cache_write_tokens=20
    )
    assert expected in chunks


# ---------------------------------------------------------------------------- errors


async def test_401_maps_to_authentication_error(server, make_backend):
    with pytest.raises(AuthenticationError) as info:
        await collect(make_backend(api_key="sk-ant-wrong-key-42"))

    error = info.value
    assert error.message == "invalid x-api-key"
    assert error.status == 401 and error.provider == "claude" and not error.retryable
    assert "sk-ant-wrong-key-42" not in str(error)


async def test_provider_echoing_the_key_is_scrubbed(server, make_backend):
    server.enqueue(Reply(status=403, error_message=f"key {API_KEY} lacks access"))
    with pytest.raises(AuthenticationError) as info:
        await collect(make_backend())
    assert API_KEY not in str(info.value) and "lacks access" in str(info.value)


async def test_429_maps_to_rate_limit_with_retry_after_and_is_retried(server, make_backend):
    limited = Reply(
        status=429, error_message="Number of requests exceeded", headers={"retry-after": "0.2"}
    )
    server.enqueue(limited)
    with pytest.raises(RateLimitError) as info:
        await collect(make_backend())
    assert info.value.retry_after == pytest.approx(0.2)
    assert info.value.message == "Number of requests exceeded" and info.value.retryable

    server.reset()
    server.enqueue(limited, Reply(text="Four."))
    retries: list[tuple[int, float]] = []
    chunks = [
        c
        async for c in stream_with_retries(
            make_backend(),
            [Message("user", "q")],
            None,
            FAST,
            lambda a, d, e: retries.append((a, d)),
        )
    ]
    assert text_of(chunks) == "Four." and len(server.requests) == 2
    assert retries == [(1, pytest.approx(0.2))]


@pytest.mark.parametrize(
    ("status", "message"), [(500, "Internal server error"), (529, "Overloaded")]
)
async def test_server_errors_are_retryable_provider_errors(server, make_backend, status, message):
    server.enqueue(Reply(status=status, error_message=message), Reply(text="ok"))
    with pytest.raises(ProviderError) as info:
        await collect(make_backend())
    assert info.value.status == status and info.value.retryable
    assert info.value.message == message

    chunks = [
        c async for c in stream_with_retries(make_backend(), [Message("user", "q")], None, FAST)
    ]
    assert text_of(chunks) == "ok"  # the queued success, on the retry


@pytest.mark.parametrize(
    ("kind", "error_type", "status"),
    [
        ("overloaded_error", ProviderError, 529),
        ("api_error", ProviderError, 500),
        ("rate_limit_error", RateLimitError, 429),
    ],
)
async def test_error_event_inside_the_stream(server, make_backend, kind, error_type, status):
    server.enqueue(Reply(text="partial answer", error_message="Try again later", error_code=kind))
    seen: list = []
    with pytest.raises(error_type) as info:
        async for chunk in make_backend().stream([Message("user", "q")]):
            seen.append(chunk)
    assert type(info.value) is error_type
    assert info.value.status == status and info.value.retryable
    assert info.value.message == "Try again later"
    assert text_of(seen) == "partial answer"


@pytest.mark.parametrize(
    "message",
    [
        "prompt is too long: 210000 tokens > 200000 maximum",
        "input length and `max_tokens` exceed context limit: 198000 + 4096 > 200000",
    ],
)
async def test_context_length_error(server, make_backend, message):
    server.enqueue(Reply(status=400, error_message=message))
    with pytest.raises(ContextLengthError, match="200000"):
        await collect(make_backend())


async def test_other_4xx_are_not_retryable(server, make_backend):
    server.enqueue(Reply(status=404, error_message="model: claude-nope"))
    with pytest.raises(ProviderError) as info:
        await collect(make_backend())
    assert info.value.status == 404 and not info.value.retryable
    assert not isinstance(info.value, ContextLengthError)


@pytest.mark.parametrize("stream", [True, False])
async def test_dropped_connection_is_a_connection_error(server, make_backend, stream):
    server.enqueue(Reply(text="one two three four five six", drop_after_chunks=5))
    seen: list = []
    with pytest.raises(BackendConnectionError) as info:
        async for chunk in make_backend(stream=stream).stream([Message("user", "q")]):
            seen.append(chunk)

    assert info.value.retryable
    if stream:
        assert "stream ended unexpectedly" in info.value.message
        assert text_of(seen) == "one two"  # what arrived before the drop


async def test_stream_ending_without_message_stop_is_a_connection_error(server, make_backend):
    server.enqueue(Reply(text="one two three", end_after_chunks=6))
    with pytest.raises(BackendConnectionError, match="before the model finished"):
        await collect(make_backend())
    request = server.requests[0]
    await server.await_for(lambda: request.completed)  # a well-formed body, just short


@pytest.mark.parametrize("stream", [True, False])
async def test_slow_server_times_out(server, make_backend, stream):
    server.enqueue(Reply(text="late", ttft=1.0))
    with pytest.raises(BackendTimeoutError, match=r"within 0\.2s"):
        await collect(make_backend(timeout=0.2, stream=stream))


async def test_unreachable_server_is_a_connection_error(make_backend):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(BackendConnectionError, match=f"127.0.0.1:{port}"):
        await collect(make_backend(base_url=f"http://127.0.0.1:{port}"))


# ---------------------------------------------------------------------- cancellation


async def test_cancelling_the_consumer_closes_the_request(server, make_backend):
    server.enqueue(Reply(text="word " * 300, tokens_per_second=100))
    backend = make_backend()
    started = asyncio.Event()

    async def consume() -> None:
        async for chunk in backend.stream([Message("user", "q")]):
            if isinstance(chunk, TextChunk):
                started.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(started.wait(), 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    request = server.requests[0]
    await server.await_for(lambda: request.client_closed, timeout=1.0)
    assert not request.completed


async def test_stopping_iteration_closes_the_request(server, make_backend):
    server.enqueue(Reply(text="word " * 300, tokens_per_second=100))
    stream = make_backend().stream([Message("user", "q")])
    keep_alive = []  # hold the chunks (and nothing else) so only an explicit close can help
    async for chunk in stream:
        keep_alive.append(chunk)
        if isinstance(chunk, TextChunk):
            break
    await stream.aclose()

    # Block this loop while waiting: the response must be closed by ``aclose`` itself, not
    # later by a garbage-collection hook running on the loop.
    request = server.requests[0]
    server.wait_for(lambda: request.client_closed, timeout=1.0)


async def test_aclose_closes_the_sdk_client(server, make_backend):
    backend = make_backend()
    await collect(backend)
    client = backend.client
    await backend.aclose()
    assert client.is_closed()


# --------------------------------------------------------------------- configuration


async def test_base_url_override_is_used(make_backend):
    with FakeAnthropicServer() as other:
        other.enqueue(Reply(text="from the override"))
        # written as copied from docs, with /v1: the SDK adds /v1 itself
        chunks = await collect(make_backend(base_url=f"{other.url}/v1/"))
    assert text_of(chunks) == "from the override" and len(other.requests) == 1


def test_default_endpoint_and_key_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-env")
    backend = create_backend(BackendConfig(type="claude", model="claude-sonnet-4-5"))
    assert isinstance(backend, ClaudeBackend) and backend.api_key == "sk-ant-env"
    assert str(backend.client.base_url).rstrip("/") == "https://api.anthropic.com"
    assert backend.client.max_retries == 0

    monkeypatch.delenv("ANTHROPIC_API_KEY")
    with pytest.raises(ConfigurationError, match="ANTHROPIC_API_KEY"):
        create_backend(BackendConfig(type="claude", model="m"), where="agents[0]")


def test_the_cli_does_not_import_the_sdk_until_a_claude_agent_is_built():
    code = (
        "import sys, massgen.cli\n"
        "from massgen.config.loader import load_config_dict\n"
        "load_config_dict({'agent': {'backend': {'type': 'claude', 'model': 'm'}}})\n"
        "print('anthropic' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert result.stdout.strip() == "False", result.stderr


# ------------------------------------------------------------- the fake's own wire format


def test_fake_streams_the_messages_event_sequence(server):
    server.enqueue(Reply(reasoning="hm", text="hi", tool_calls=[("f", '{"a": 1}')]))
    headers = {"x-api-key": API_KEY, "anthropic-version": "2023-06-01"}
    body = {
        "model": "m",
        "max_tokens": 10,
        "stream": True,
        "messages": [{"role": "user", "content": "q"}],
    }
    response = httpx.post(f"{server.url}/v1/messages", json=body, headers=headers, timeout=5)

    events = [
        (block.split("\n")[0].removeprefix("event: "), json.loads(block.split("\n")[1][6:]))
        for block in response.text.strip().split("\n\n")
    ]
    names = [name for name, _ in events]
    assert names[:2] == ["message_start", "ping"] and names[-2:] == [
        "message_delta",
        "message_stop",
    ]
    assert all(name == payload["type"] for name, payload in events)
    deltas = {p["delta"]["type"] for n, p in events if n == "content_block_delta"}
    assert deltas == {"thinking_delta", "signature_delta", "text_delta", "input_json_delta"}
    starts = [p["content_block"]["type"] for n, p in events if n == "content_block_start"]
    assert starts == ["thinking", "text", "tool_use"]
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"


@pytest.mark.parametrize(
    ("messages", "problem"),
    [
        ([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}], "alternate"),
        (
            [
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": "b"},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "x"}]},
            ],
            "unexpected `tool_use_id`",
        ),
        ([{"role": "user", "content": " "}], "non-whitespace"),
    ],
)
def test_fake_rejects_what_the_api_rejects(server, messages, problem):
    headers = {"x-api-key": API_KEY, "anthropic-version": "2023-06-01"}
    body = {"model": "m", "max_tokens": 10, "messages": messages}
    response = httpx.post(f"{server.url}/v1/messages", json=body, headers=headers, timeout=5)
    assert response.status_code == 400
    error = response.json()
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert problem in error["error"]["message"]
    del body["max_tokens"]
    response = httpx.post(f"{server.url}/v1/messages", json=body, headers=headers, timeout=5)
    assert response.json()["error"]["message"] == "max_tokens: Field required"


# ------------------------------------------------------------------------ the engine


async def test_three_claude_agents_reach_a_winner():
    with FakeAnthropicServer(api_key=API_KEY) as server:
        agents = [
            {
                "id": model,
                "backend": {
                    "type": "claude",
                    "model": model,
                    "base_url": server.url,
                    "api_key": API_KEY,
                    "max_retries": 0,
                },
            }
            for model in ("c1", "c2", "c3")
        ]
        config = {"agents": agents, "orchestrator": {"restart_debounce_seconds": 0}}
        coordinator = build_coordinator(load_config_dict(config).config, EventBus())
        try:
            result = await coordinator.run("What is 2+2?")
        finally:
            for agent in coordinator.specs:
                await agent.backend.aclose()

    assert result.ok and result.winner in ("c1", "c2", "c3"), result.error
    assert len(result.votes) == 3 and result.final_answer
    assert len(server.requests) == 7 == result.total_usage.requests
    assert result.total_usage.prompt_tokens > 0 and result.total_usage.completion_tokens > 0
    assert all(r.body["system"] and r.status == 200 for r in server.requests)
    tools = [[t["name"] for t in r.body.get("tools", [])] for r in server.requests]
    assert tools.count(["new_answer"]) == 3 and tools.count([]) == 1


async def test_streams_tool_arguments_as_they_arrive(server, make_backend):
    first, second = '{"content": "The answer is 4 because 2 + 2 = 4."}', '{"path": "b.txt"}'
    server.enqueue(Reply(tool_calls=[("new_answer", first), ("read", second)]))
    chunks = await collect(make_backend(), tools=[ANSWER_TOOL])

    calls = calls_of(chunks)
    pieces = [c for c in chunks if isinstance(c, ToolArgumentsChunk)]
    assert len(pieces) > 2 and [c.arguments for c in calls] == [first, second]
    for call in calls:
        mine = [p for p in pieces if p.call_id == call.id]
        assert {p.name for p in mine} == {call.name} and len({p.index for p in mine}) == 1
        assert "".join(p.text for p in mine) == call.arguments
        # every piece of a call comes before the complete call
        assert chunks.index(mine[-1]) < next(
            i for i, c in enumerate(chunks) if isinstance(c, ToolCallChunk) and c.call is call
        )
