"""The ``chatcompletion`` backend (its own HTTP client, pooled) against the fake server."""

from __future__ import annotations

import asyncio
import socket
import time
from email.utils import formatdate

import pytest

from massgen.backends.chat_completions import (
    ChatCompletionsBackend,
)
from massgen.backends.chat_completions import (
    ToolCallAssembler as _ToolCallAssembler,
)
from massgen.backends.errors import (
    AuthenticationError,
    BackendConnectionError,
    BackendTimeoutError,
    ContextLengthError,
    ProviderError,
    RateLimitError,
)
from massgen.backends.http_client import parse_retry_after
from massgen.backends.registry import create_backend, resolve_api_key
from massgen.config.schema import BackendConfig
from massgen.errors import ConfigurationError
from massgen.messages import (
    DoneChunk,
    Message,
    ReasoningChunk,
    TextChunk,
    ToolArgumentsChunk,
    ToolCall,
    ToolCallChunk,
    ToolSpec,
    UsageChunk,
)
from tests.backends.conftest import API_KEY, MakeBackend, collect
from tests.fakes.chat_server import FakeChatServer, Reply

ANSWER_TOOL = ToolSpec(
    "new_answer",
    "Submit an answer",
    {"type": "object", "properties": {"content": {"type": "string"}}, "required": ["content"]},
)


def text_of(chunks: list) -> str:
    return "".join(c.text for c in chunks if isinstance(c, TextChunk))


def calls_of(chunks: list) -> list[ToolCall]:
    return [c.call for c in chunks if isinstance(c, ToolCallChunk)]


# ------------------------------------------------------------------------- streaming


async def test_streams_text_deltas_then_done(server: FakeChatServer, make_backend: MakeBackend):
    server.enqueue(Reply(text="Four, because two plus two is four."))
    chunks = await collect(make_backend())

    texts = [c for c in chunks if isinstance(c, TextChunk)]
    assert len(texts) > 3  # streamed as deltas, not one block
    assert text_of(chunks) == "Four, because two plus two is four."
    assert chunks[-1] == DoneChunk("stop")
    body = server.requests[0].body
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["model"] == "test-model"
    assert server.requests[0].headers["authorization"] == f"Bearer {API_KEY}"


async def test_non_stream_mode_yields_the_same_chunks(
    server: FakeChatServer, make_backend: MakeBackend
):
    server.enqueue(
        Reply(text="Four.", reasoning="2+2", tool_calls=[("new_answer", '{"content": "4"}')]),
    )
    chunks = await collect(make_backend(stream=False), tools=[ANSWER_TOOL])

    body = server.requests[0].body
    assert not body.get("stream") and "stream_options" not in body
    assert [type(c) for c in chunks] == [
        ReasoningChunk,
        TextChunk,
        ToolCallChunk,
        UsageChunk,
        DoneChunk,
    ]
    assert chunks[0].text == "2+2" and text_of(chunks) == "Four."
    assert calls_of(chunks)[0].arguments == '{"content": "4"}'
    assert chunks[-1] == DoneChunk("tool_calls")


async def test_converts_messages_tools_and_settings(
    server: FakeChatServer, make_backend: MakeBackend
):
    call = ToolCall("call_1", "read_file", '{"path": "a.txt"}')
    messages = [
        Message("system", "Be brief."),
        Message("user", "Read a.txt"),
        Message("assistant", "", tool_calls=[call]),
        Message("tool", "hello", tool_call_id="call_1"),
    ]
    backend = make_backend(temperature=0.3, top_p=0.9, max_tokens=64)
    await collect(backend, messages, [ANSWER_TOOL])

    body = server.requests[0].body
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Read a.txt"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "read_file", "arguments": '{"path": "a.txt"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "hello"},
    ]
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "new_answer",
                "description": "Submit an answer",
                "parameters": ANSWER_TOOL.parameters,
            },
        }
    ]
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.3, 0.9, 64)
    assert "max_completion_tokens" not in body


def test_official_openai_endpoint_uses_max_completion_tokens():
    config = BackendConfig(type="chatcompletion", model="m", api_key="k", max_tokens=64)
    params = ChatCompletionsBackend(config, api_key="k").request_params([Message("user", "hi")])
    assert params["max_completion_tokens"] == 64 and "max_tokens" not in params


async def test_assembles_one_streamed_tool_call(server: FakeChatServer, make_backend: MakeBackend):
    arguments = '{"content": "The answer is 4 because 2 + 2 = 4."}'
    server.enqueue(Reply(tool_calls=[("new_answer", arguments)]))
    chunks = await collect(make_backend(), tools=[ANSWER_TOOL])

    [call] = calls_of(chunks)
    assert call.name == "new_answer"
    assert call.arguments == arguments  # joined from several deltas
    assert call.id.startswith("call_")
    assert call.parsed_arguments() == {"content": "The answer is 4 because 2 + 2 = 4."}
    assert chunks[-1] == DoneChunk("tool_calls")


async def test_streams_tool_arguments_as_they_arrive(
    server: FakeChatServer, make_backend: MakeBackend
):
    arguments = '{"content": "The answer is 4 because 2 + 2 = 4."}'
    server.enqueue(Reply(tool_calls=[("new_answer", arguments)]))
    chunks = await collect(make_backend(), tools=[ANSWER_TOOL])

    pieces = [c for c in chunks if isinstance(c, ToolArgumentsChunk)]
    [call] = calls_of(chunks)
    assert len(pieces) > 1  # the fake streams the arguments in several deltas
    assert "".join(p.text for p in pieces) == arguments
    assert {(p.index, p.call_id, p.name) for p in pieces} == {(0, call.id, "new_answer")}
    # every piece comes before the complete call, which is unchanged
    assert chunks.index(pieces[-1]) < chunks.index(
        next(c for c in chunks if isinstance(c, ToolCallChunk))
    )
    assert call.name == "new_answer" and call.arguments == arguments


async def test_parallel_calls_stream_their_arguments_apart(
    server: FakeChatServer, make_backend: MakeBackend
):
    first, second = '{"path": "a.txt"}', '{"path": "bb.txt"}'
    server.enqueue(Reply(tool_calls=[("read_file", first), ("read_file", second)]))
    chunks = await collect(make_backend(), tools=[ANSWER_TOOL])

    calls = calls_of(chunks)
    pieces = [c for c in chunks if isinstance(c, ToolArgumentsChunk)]
    for number, call in enumerate(calls):
        mine = [p for p in pieces if p.index == number]
        assert {p.call_id for p in mine} == {call.id}
        assert "".join(p.text for p in mine) == call.arguments
    assert [c.arguments for c in calls] == [first, second]


async def test_assembles_two_parallel_tool_calls(server: FakeChatServer, make_backend: MakeBackend):
    server.enqueue(
        Reply(
            text="Checking both.",
            tool_calls=[("read_file", '{"path": "a.txt"}'), ("read_file", '{"path": "bb.txt"}')],
        )
    )
    chunks = await collect(make_backend(), tools=[ANSWER_TOOL])

    calls = calls_of(chunks)
    assert [c.parsed_arguments()["path"] for c in calls] == ["a.txt", "bb.txt"]
    assert [c.name for c in calls] == ["read_file", "read_file"]
    assert calls[0].id != calls[1].id
    assert text_of(chunks) == "Checking both."


async def test_malformed_tool_arguments_pass_through(
    server: FakeChatServer, make_backend: MakeBackend
):
    raw = '{"content": "unterminated'
    server.enqueue(Reply(tool_calls=[("new_answer", raw)]))
    [call] = calls_of(await collect(make_backend(), tools=[ANSWER_TOOL]))

    assert call.arguments == raw
    with pytest.raises(ValueError, match="not valid JSON"):
        call.parsed_arguments()


async def test_usage_is_read_from_the_stream(server: FakeChatServer, make_backend: MakeBackend):
    server.enqueue(
        Reply(
            text="ok",
            prompt_tokens=123,
            completion_tokens=45,
            reasoning_tokens=7,
            cached_tokens=100,
        )
    )
    chunks = await collect(make_backend())

    assert UsageChunk(123, 45, reasoning_tokens=7, cached_tokens=100) in chunks
    assert isinstance(chunks[-1], DoneChunk)


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
async def test_reasoning_deltas(server: FakeChatServer, make_backend: MakeBackend, field: str):
    server.enqueue(Reply(reasoning="Two and two make four.", text="4", reasoning_field=field))
    chunks = await collect(make_backend())

    reasoning = [c for c in chunks if isinstance(c, ReasoningChunk)]
    assert len(reasoning) > 1
    assert "".join(c.text for c in reasoning) == "Two and two make four."
    first_text = next(i for i, c in enumerate(chunks) if isinstance(c, TextChunk))
    assert chunks.index(reasoning[-1]) < first_text


# ---------------------------------------------------------------------------- errors


async def test_401_maps_to_authentication_error(server: FakeChatServer, make_backend: MakeBackend):
    backend = make_backend(api_key="sk-wrong-key-42")
    with pytest.raises(AuthenticationError) as info:
        await collect(backend)

    error = info.value
    assert error.message == "Incorrect API key provided."
    assert error.status == 401 and error.provider == "chatcompletion"
    assert "sk-wrong-key-42" not in str(error)


async def test_provider_echoing_the_key_is_scrubbed(
    server: FakeChatServer, make_backend: MakeBackend
):
    server.enqueue(Reply(status=403, error_message=f"key {API_KEY} lacks access"))
    with pytest.raises(AuthenticationError) as info:
        await collect(make_backend())
    assert API_KEY not in str(info.value) and "lacks access" in str(info.value)


async def test_429_maps_to_rate_limit_with_retry_after(
    server: FakeChatServer, make_backend: MakeBackend
):
    server.enqueue(
        Reply(status=429, error_message="Slow down", headers={"Retry-After": "0.2"}),
        Reply(status=429, error_message="Slow down", headers={"retry-after-ms": "1500"}),
    )
    with pytest.raises(RateLimitError) as first:
        await collect(make_backend())
    with pytest.raises(RateLimitError) as second:
        await collect(make_backend())

    assert first.value.retry_after == pytest.approx(0.2)
    assert first.value.message == "Slow down" and first.value.retryable
    assert second.value.retry_after == pytest.approx(1.5)


def test_parse_retry_after_http_date():
    in_ten = formatdate(time.time() + 10, usegmt=True)
    assert parse_retry_after({"retry-after": in_ten}) == pytest.approx(10, abs=1.5)
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


async def test_insufficient_quota_is_not_a_retryable_rate_limit(
    server: FakeChatServer, make_backend: MakeBackend
):
    server.enqueue(Reply(status=429, error_message="quota", error_code="insufficient_quota"))
    with pytest.raises(ProviderError) as info:
        await collect(make_backend())
    assert info.value.status == 429 and not info.value.retryable


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("context_length_exceeded", "Too long."),
        (None, "This model's maximum context length is 4096 tokens."),
    ],
)
async def test_context_length_error(
    server: FakeChatServer, make_backend: MakeBackend, code: str | None, message: str
):
    server.enqueue(Reply(status=400, error_message=message, error_code=code))
    with pytest.raises(ContextLengthError, match=message):
        await collect(make_backend())


async def test_other_statuses_map_to_provider_error(
    server: FakeChatServer, make_backend: MakeBackend
):
    server.enqueue(
        Reply(status=500, error_message="The server had an error"),
        Reply(status=404, error_message="The model `nope` does not exist"),
    )
    with pytest.raises(ProviderError) as server_error:
        await collect(make_backend())
    with pytest.raises(ProviderError) as not_found:
        await collect(make_backend())

    assert server_error.value.status == 500 and server_error.value.retryable
    assert server_error.value.message == "The server had an error"
    assert not_found.value.status == 404 and not not_found.value.retryable


async def test_error_inside_the_stream_is_a_provider_error(
    server: FakeChatServer, make_backend: MakeBackend
):
    server.enqueue(Reply(text="partial", error_message="upstream overloaded"))
    with pytest.raises(ProviderError, match="upstream overloaded"):
        await collect(make_backend())


@pytest.mark.parametrize("stream", [True, False])
async def test_dropped_connection_is_a_connection_error(
    server: FakeChatServer, make_backend: MakeBackend, stream: bool
):
    server.enqueue(Reply(text="one two three four five six", drop_after_chunks=3))
    seen: list = []
    with pytest.raises(BackendConnectionError) as info:
        async for chunk in make_backend(stream=stream).stream([Message("user", "q")]):
            seen.append(chunk)

    assert info.value.retryable
    if stream:
        assert "stream ended unexpectedly" in info.value.message
        assert text_of(seen) == "one two"  # what arrived before the drop


@pytest.mark.parametrize("stream", [True, False])
async def test_slow_server_times_out(
    server: FakeChatServer, make_backend: MakeBackend, stream: bool
):
    server.enqueue(Reply(text="late", ttft=1.0))
    with pytest.raises(BackendTimeoutError, match=r"within 0\.2s"):
        await collect(make_backend(timeout=0.2, stream=stream))


async def test_unreachable_server_is_a_connection_error(make_backend: MakeBackend):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    backend = make_backend(base_url=f"http://127.0.0.1:{port}/v1")
    with pytest.raises(BackendConnectionError, match=f"127.0.0.1:{port}"):
        await collect(backend)


# ---------------------------------------------------------------------- cancellation


async def test_cancelling_the_consumer_closes_the_request(
    server: FakeChatServer, make_backend: MakeBackend
):
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


async def test_stopping_iteration_closes_the_request(
    server: FakeChatServer, make_backend: MakeBackend
):
    server.enqueue(Reply(text="word " * 300, tokens_per_second=100))
    stream = make_backend().stream([Message("user", "q")])
    keep_alive = []  # hold the chunks (and nothing else) so only an explicit close can help
    async for chunk in stream:
        keep_alive.append(chunk)
        break
    await stream.aclose()

    request = server.requests[0]
    await server.await_for(lambda: request.client_closed, timeout=1.0)


# ---------------------------------------------------------------------------- presets


def test_preset_base_url_defaults(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("XAI_API_KEY", "xai-test")
    vllm = create_backend(BackendConfig(type="vllm", model="m"))
    grok = create_backend(BackendConfig(type="grok", model="grok-4"))

    assert vllm.base_url == "http://localhost:8000/v1" and vllm.api_key is None
    assert grok.base_url == "https://api.x.ai/v1" and grok.api_key == "xai-test"
    assert "Authorization" not in vllm.headers()
    assert grok.headers()["Authorization"] == "Bearer xai-test"


async def test_base_url_override_and_preset_provider(
    server: FakeChatServer, make_backend: MakeBackend
):
    server.enqueue(Reply(status=401, error_message="bad key"))
    backend = make_backend(type="grok")
    with pytest.raises(AuthenticationError) as info:
        await collect(backend)
    assert len(server.requests) == 1  # the request went to the overridden base_url
    assert info.value.provider == "grok"


def test_missing_preset_key_names_the_variable(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("XAI_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="XAI_API_KEY"):
        create_backend(BackendConfig(type="grok", model="grok-4"), where="agents[0]")
    assert resolve_api_key(BackendConfig(type="ollama", model="m")) is None


# ------------------------------------------------------------------ the default brain


async def test_default_brain_plays_the_workflow_over_the_sdk(
    server: FakeChatServer, make_backend: MakeBackend
):
    vote = ToolSpec(
        "vote",
        "Vote for the best answer",
        {
            "type": "object",
            "properties": {
                "agent_id": {"type": "string", "enum": ["agent2", "agent1"]},
                "reason": {"type": "string"},
            },
        },
    )
    backend = make_backend()
    question = [Message("user", "Why is the sky blue?")]

    [voted] = calls_of(await collect(backend, question, [ANSWER_TOOL, vote]))
    answers = [calls_of(await collect(backend, question, [ANSWER_TOOL]))[0] for _ in range(2)]
    final = await collect(backend, question)

    assert voted.name == "vote" and voted.parsed_arguments()["agent_id"] == "agent1"
    assert voted.parsed_arguments()["reason"]
    contents = [a.parsed_arguments()["content"] for a in answers]
    assert all(a.name == "new_answer" for a in answers)
    assert all("Why is the sky blue?" in c and "test-model" in c for c in contents)
    assert contents[0] != contents[1]
    assert text_of(final).startswith("Final answer:") and not calls_of(final)


async def test_a_stream_ending_with_done_but_no_finish_reason_is_complete(
    server: FakeChatServer, make_backend: MakeBackend
):
    server.enqueue(
        Reply(tool_calls=[("new_answer", '{"content": "x"}')], text="hi", finish_reason_sent=False)
    )
    chunks = await collect(make_backend())
    assert text_of(chunks) == "hi"
    assert [c.name for c in calls_of(chunks)] == ["new_answer"]
    assert isinstance(chunks[-1], DoneChunk)


async def test_stream_cut_cleanly_before_finish_is_a_connection_error(
    server: FakeChatServer, make_backend: MakeBackend
):
    server.enqueue(Reply(text="one two three", end_after_chunks=2))
    with pytest.raises(BackendConnectionError, match="stream ended unexpectedly"):
        await collect(make_backend())
    request = server.requests[0]
    await server.await_for(lambda: request.completed)  # the body was well-formed, just short


def test_tool_call_deltas_reusing_an_index_or_without_one():
    def delta(index, id=None, name=None, arguments=None):  # a streamed delta, as JSON
        return {"index": index, "id": id, "function": {"name": name, "arguments": arguments}}

    calls = _ToolCallAssembler()
    pieces = []
    for d in [
        delta(0, "call_a", "f", ""),
        delta(0, None, None, '{"x": '),
        delta(0, "call_a", None, "1}"),  # some servers repeat the id on every delta
        delta(0, "call_b", "g", "{}"),  # a parallel call reusing index 0
        delta(None, None, "h", "[]"),  # no index at all
    ]:
        piece = calls.add(d)
        if piece is not None:
            pieces.append((piece.index, piece.call_id, piece.name, piece.text))
    assert pieces == [
        (0, "call_a", "f", '{"x": '),
        (0, "call_a", "f", "1}"),
        (1, "call_b", "g", "{}"),
        (2, "call_2", "h", "[]"),
    ]
    assert [(c.id, c.name, c.arguments) for c in calls.flush()] == [
        ("call_a", "f", '{"x": 1}'),
        ("call_b", "g", "{}"),
        ("call_2", "h", "[]"),
    ]
