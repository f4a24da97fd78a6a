"""The ``openai`` backend (Responses API) through the real openai SDK against the fake server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pydantic
import pytest
from openai import BaseModel as SDKModel
from openai.types.responses import Response, ResponseStreamEvent

from massgen.backends.base import Backend
from massgen.backends.errors import (
    AuthenticationError,
    BackendConnectionError,
    BackendError,
    BackendTimeoutError,
    ContextLengthError,
    ProviderError,
    RateLimitError,
)
from massgen.backends.openai_responses import ResponsesBackend
from massgen.backends.registry import create_backend
from massgen.backends.retry import RetryPolicy, stream_with_retries
from massgen.config.loader import load_config_dict
from massgen.config.schema import BackendConfig
from massgen.coordination.build import build_coordinator
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
from tests.backends.conftest import API_KEY, MakeBackend, collect
from tests.fakes.responses_server import FakeResponsesServer, Reply, ResponsesReply

ANSWER_TOOL = ToolSpec(
    "new_answer",
    "Submit an answer",
    {"type": "object", "properties": {"content": {"type": "string"}}, "required": ["content"]},
)
VOTE_TOOL = ToolSpec(
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
QUESTION = [Message("user", "What is 2+2?")]


@pytest.fixture(scope="module")
def responses_server() -> Iterator[FakeResponsesServer]:
    with FakeResponsesServer(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def server(responses_server: FakeResponsesServer) -> Iterator[FakeResponsesServer]:
    """The module's server with empty queues and no recorded requests."""
    responses_server.reset()
    yield responses_server
    responses_server.reset()


@pytest.fixture
async def make_backend(server: FakeResponsesServer) -> AsyncIterator[MakeBackend]:
    """``openai`` backends built through the registry, pointed at the fake (closed after)."""
    made: list[Backend] = []

    def make(**fields: Any) -> Backend:
        values: dict[str, Any] = {
            "type": "openai",
            "model": "gpt-test",
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


def reasoning_of(chunks: list) -> str:
    return "".join(c.text for c in chunks if isinstance(c, ReasoningChunk))


def calls_of(chunks: list) -> list[ToolCall]:
    return [c.call for c in chunks if isinstance(c, ToolCallChunk)]


# ------------------------------------------------------------------------- streaming


async def test_streams_text_deltas_then_usage_and_done(
    server: FakeResponsesServer, make_backend: MakeBackend
):
    server.enqueue(Reply(text="Four, because two plus two is four."))
    chunks = await collect(make_backend())

    texts = [c for c in chunks if isinstance(c, TextChunk)]
    assert len(texts) > 3  # streamed as deltas, not one block
    assert text_of(chunks) == "Four, because two plus two is four."
    assert isinstance(chunks[-2], UsageChunk) and chunks[-1] == DoneChunk("completed")
    request = server.requests[0]
    assert request.body["stream"] is True and request.body["store"] is False
    assert request.body["model"] == "gpt-test"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    # the server marks the request after its last send, which the client may beat
    assert await server.await_for(lambda: request.completed, timeout=2)


async def test_non_stream_mode_yields_the_same_chunks(
    server: FakeResponsesServer, make_backend: MakeBackend
):
    server.enqueue(
        ResponsesReply(
            text="Four.",
            reasoning="2+2",
            web_searches=["two plus two"],
            tool_calls=[("new_answer", '{"content": "4"}')],
        )
    )
    backend = make_backend(stream=False, reasoning={"summary": "auto"}, enable_web_search=True)
    chunks = await collect(backend, tools=[ANSWER_TOOL])

    assert "stream" not in server.requests[0].body
    assert [type(c) for c in chunks] == [
        ReasoningChunk,
        ProviderToolChunk,
        ProviderToolChunk,
        TextChunk,
        ToolCallChunk,
        UsageChunk,
        DoneChunk,
    ]
    assert chunks[0].text == "2+2" and text_of(chunks) == "Four."
    assert [(c.status, c.detail) for c in chunks[1:3]] == [
        ("started", "two plus two"),
        ("finished", "two plus two"),
    ]
    assert calls_of(chunks)[0].arguments == '{"content": "4"}'
    assert chunks[-1] == DoneChunk("completed")


async def test_converts_messages_tools_and_settings(
    server: FakeResponsesServer, make_backend: MakeBackend
):
    call = ToolCall("call_1", "read_file", '{"path": "a.txt"}')
    messages = [
        Message("system", "Be brief."),
        Message("user", "Read a.txt"),
        Message("assistant", "Reading.", tool_calls=[call]),
        Message("tool", "hello", tool_call_id="call_1"),
        Message("assistant", "It says hello."),
        Message("system", "Answer in French."),
        Message("user", "Thanks"),
    ]
    backend = make_backend(temperature=0.3, top_p=0.9, max_tokens=64)
    await collect(backend, messages, [ANSWER_TOOL])

    body = server.requests[0].body
    assert body["instructions"] == "Be brief."
    assert body["input"] == [
        {"type": "message", "role": "user", "content": "Read a.txt"},
        {"type": "message", "role": "assistant", "content": "Reading."},
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "read_file",
            "arguments": '{"path": "a.txt"}',
        },
        {"type": "function_call_output", "call_id": "call_1", "output": "hello"},
        {"type": "message", "role": "assistant", "content": "It says hello."},
        {"type": "message", "role": "system", "content": "Answer in French."},
        {"type": "message", "role": "user", "content": "Thanks"},
    ]
    assert body["tools"] == [
        {
            "type": "function",
            "name": "new_answer",
            "description": "Submit an answer",
            "parameters": ANSWER_TOOL.parameters,
            "strict": False,
        }
    ]
    assert (body["temperature"], body["top_p"], body["max_output_tokens"]) == (0.3, 0.9, 64)
    assert not {"reasoning", "text", "include", "max_tokens"} & body.keys()


async def test_reasoning_and_text_config_are_passed_through(
    server: FakeResponsesServer, make_backend: MakeBackend
):
    backend = make_backend(
        reasoning={"effort": "high", "summary": "detailed"}, text={"verbosity": "low"}
    )
    await collect(backend)
    body = server.requests[0].body
    assert body["reasoning"] == {"effort": "high", "summary": "detailed"}
    assert body["text"] == {"verbosity": "low"}


async def test_reasoning_summary_streams_as_reasoning_chunks(
    server: FakeResponsesServer, make_backend: MakeBackend
):
    reasoning = "Two and two make four.\n\nNo need to check further."
    server.enqueue(Reply(reasoning=reasoning, text="4"))
    chunks = await collect(make_backend(reasoning={"summary": "auto"}))

    pieces = [c for c in chunks if isinstance(c, ReasoningChunk)]
    assert len(pieces) > 3
    assert reasoning_of(chunks) == reasoning  # the two summary parts kept apart
    first_text = next(i for i, c in enumerate(chunks) if isinstance(c, TextChunk))
    assert chunks.index(pieces[-1]) < first_text


async def test_raw_reasoning_text_streams_as_reasoning_chunks(
    server: FakeResponsesServer, make_backend: MakeBackend
):
    server.enqueue(ResponsesReply(reasoning="Adding two and two.", text="4", raw_reasoning=True))
    chunks = await collect(make_backend())
    assert reasoning_of(chunks) == "Adding two and two." and text_of(chunks) == "4"


async def test_assembles_one_streamed_function_call(
    server: FakeResponsesServer, make_backend: MakeBackend
):
    arguments = '{"content": "The answer is 4 because 2 + 2 = 4."}'
    server.enqueue(Reply(tool_calls=[("new_answer", arguments)]))
    chunks = await collect(make_backend(), tools=[ANSWER_TOOL])

    [call] = calls_of(chunks)
    assert call.name == "new_answer"
    assert call.arguments == arguments  # joined from several deltas
    assert call.id.startswith("call_")  # the call_id, not the item id (fc_...)
    assert call.parsed_arguments() == {"content": "The answer is 4 because 2 + 2 = 4."}
    assert chunks[-1] == DoneChunk("completed")


async def test_two_parallel_function_calls(server: FakeResponsesServer, make_backend: MakeBackend):
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


async def test_malformed_function_arguments_pass_through(
    server: FakeResponsesServer, make_backend: MakeBackend
):
    raw = '{"content": "unterminated'
    server.enqueue(Reply(tool_calls=[("new_answer", raw)]))
    [call] = calls_of(await collect(make_backend(), tools=[ANSWER_TOOL]))

    assert call.arguments == raw
    with pytest.raises(ValueError, match="not valid JSON"):
        call.parsed_arguments()


async def test_web_search_is_reported_as_provider_tool_chunks(
    server: FakeResponsesServer, make_backend: MakeBackend
):
    server.enqueue(ResponsesReply(web_searches=["sky colour physics"], text="Rayleigh."))
    chunks = await collect(make_backend(enable_web_search=True))

    assert {"type": "web_search"} in server.requests[0].body["tools"]
    tools = [c for c in chunks if isinstance(c, ProviderToolChunk)]
    assert [(c.name, c.status) for c in tools] == [
        ("web_search", "started"),
        ("web_search", "finished"),
    ]
    assert tools[0].call_id == tools[1].call_id and tools[1].detail == "sky colour physics"
    assert chunks.index(tools[1]) < next(
        i for i, c in enumerate(chunks) if isinstance(c, TextChunk)
    )
    assert not calls_of(chunks)  # the engine never answers a provider's own tool


async def test_provider_tools_are_off_unless_enabled(
    server: FakeResponsesServer, make_backend: MakeBackend
):
    server.enqueue(ResponsesReply(web_searches=["q"], code_runs=[("1", "1")], text="ok"))
    chunks = await collect(make_backend())
    assert "tools" not in server.requests[0].body
    assert not [c for c in chunks if isinstance(c, ProviderToolChunk)]


@pytest.mark.parametrize("stream", [True, False])
async def test_a_refusal_is_shown_as_text(
    server: FakeResponsesServer, make_backend: MakeBackend, stream: bool
):
    server.enqueue(ResponsesReply(refusal="I can't help with that."))
    chunks = await collect(make_backend(stream=stream))
    assert text_of(chunks) == "I can't help with that." and chunks[-1] == DoneChunk("completed")


@pytest.mark.parametrize("flag", ["enable_code_interpreter", "enable_code_execution"])
async def test_code_interpreter_is_reported_with_its_output(
    server: FakeResponsesServer, make_backend: MakeBackend, flag: str
):
    server.enqueue(ResponsesReply(code_runs=[("print(2 + 2)", "4\n")], text="It prints 4."))
    chunks = await collect(make_backend(**{flag: True}))

    body = server.requests[0].body
    assert {"type": "code_interpreter", "container": {"type": "auto"}} in body["tools"]
    assert body["include"] == ["code_interpreter_call.outputs"]
    tools = [(c.name, c.status, c.detail) for c in chunks if isinstance(c, ProviderToolChunk)]
    assert tools == [("code_interpreter", "started", ""), ("code_interpreter", "finished", "4")]


async def test_usage_is_read_from_the_completed_response(
    server: FakeResponsesServer, make_backend: MakeBackend
):
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


async def test_max_output_tokens_cut_ends_incomplete(
    server: FakeResponsesServer, make_backend: MakeBackend
):
    server.enqueue(Reply(text="word " * 40))
    chunks = await collect(make_backend(max_tokens=16))

    assert server.requests[0].body["max_output_tokens"] == 16
    assert text_of(chunks) == "word " * 15 + "word"
    assert UsageChunk in map(type, chunks) and chunks[-1] == DoneChunk("incomplete")


# ---------------------------------------------------------------------------- errors


async def test_401_maps_to_authentication_error(
    server: FakeResponsesServer, make_backend: MakeBackend
):
    backend = make_backend(api_key="sk-wrong-key-42")
    with pytest.raises(AuthenticationError) as info:
        await collect(backend)

    error = info.value
    assert error.message.startswith("Incorrect API key provided")
    assert error.status == 401 and error.provider == "openai" and not error.retryable
    assert "sk-wrong-key-42" not in str(error)


async def test_provider_echoing_the_key_is_scrubbed(
    server: FakeResponsesServer, make_backend: MakeBackend
):
    server.enqueue(Reply(status=403, error_message=f"key {API_KEY} lacks access"))
    with pytest.raises(AuthenticationError) as info:
        await collect(make_backend())
    assert API_KEY not in str(info.value) and "lacks access" in str(info.value)


async def test_429_maps_to_rate_limit_and_is_retried_above_the_sdk(
    server: FakeResponsesServer, make_backend: MakeBackend
):
    limited = Reply(status=429, error_message="Rate limit reached", headers={"Retry-After": "0.2"})
    server.enqueue(limited)
    with pytest.raises(RateLimitError) as info:
        await collect(make_backend())
    assert info.value.retry_after == pytest.approx(0.2) and info.value.retryable
    assert info.value.message == "Rate limit reached"

    server.reset()
    server.enqueue(limited, Reply(text="Four."))
    retries: list[BackendError] = []
    policy = RetryPolicy(max_attempts=3, initial_delay=0.01)
    stream = stream_with_retries(
        make_backend(), QUESTION, None, policy, lambda a, d, e: retries.append(e)
    )
    chunks = [c async for c in stream]

    assert text_of(chunks) == "Four." and len(server.requests) == 2
    assert [type(e) for e in retries] == [RateLimitError]
    assert server.requests[1].started_at - server.requests[0].finished_at >= 0.15


async def test_500_maps_to_a_retryable_provider_error(
    server: FakeResponsesServer, make_backend: MakeBackend
):
    server.enqueue(Reply(status=500, error_message="The server had an error"))
    with pytest.raises(ProviderError) as info:
        await collect(make_backend())
    assert info.value.status == 500 and info.value.retryable
    assert info.value.message == "The server had an error"
    assert len(server.requests) == 1  # no SDK retry


async def test_context_length_error(server: FakeResponsesServer, make_backend: MakeBackend):
    message = "Your input exceeds the context window of this model."
    server.enqueue(Reply(status=400, error_message=message, error_code="context_length_exceeded"))
    with pytest.raises(ContextLengthError, match="exceeds the context window"):
        await collect(make_backend())


async def test_invalid_request_is_a_non_retryable_provider_error(
    server: FakeResponsesServer, make_backend: MakeBackend
):
    orphan = [Message("user", "q"), Message("tool", "result", tool_call_id="call_nope")]
    with pytest.raises(ProviderError, match="No tool call found") as info:
        await collect(make_backend(), orphan)
    assert info.value.status == 400 and not info.value.retryable


@pytest.mark.parametrize(
    ("shape", "code", "error_type", "retryable"),
    [
        ("failed", None, ProviderError, True),  # response.failed, code server_error
        ("failed", "invalid_prompt", ProviderError, False),
        ("failed", "rate_limit_exceeded", RateLimitError, True),
        ("error", None, ProviderError, True),  # the live API's nested ``error`` event
        ("error_flat", "context_length_exceeded", ContextLengthError, False),  # the documented one
        ("error_flat", None, ProviderError, True),
    ],
)
async def test_errors_inside_the_stream(
    server: FakeResponsesServer,
    make_backend: MakeBackend,
    shape: str,
    code: str | None,
    error_type: type[BackendError],
    retryable: bool,
):
    server.enqueue(
        ResponsesReply(
            text="partial", error_message="upstream overloaded", error_code=code, stream_error=shape
        )
    )
    seen: list = []
    with pytest.raises(error_type, match="upstream overloaded") as info:
        async for chunk in make_backend().stream(QUESTION):
            seen.append(chunk)
    assert type(info.value) is error_type and info.value.retryable is retryable
    assert text_of(seen) == "partial" and not any(isinstance(c, DoneChunk) for c in seen)


@pytest.mark.parametrize("stream", [True, False])
async def test_dropped_connection_is_a_connection_error(
    server: FakeResponsesServer, make_backend: MakeBackend, stream: bool
):
    server.enqueue(Reply(text="one two three four five six", drop_after_chunks=6))
    seen: list = []
    with pytest.raises(BackendConnectionError) as info:
        async for chunk in make_backend(stream=stream).stream(QUESTION):
            seen.append(chunk)

    assert info.value.retryable
    if stream:
        assert "stream ended unexpectedly" in info.value.message
        assert text_of(seen) == "one two"  # what arrived before the drop


async def test_stream_ending_without_completed_is_a_connection_error(
    server: FakeResponsesServer, make_backend: MakeBackend
):
    server.enqueue(Reply(text="one two three", end_after_chunks=6))
    with pytest.raises(BackendConnectionError, match="before the response completed"):
        await collect(make_backend())
    request = server.requests[0]
    await server.await_for(lambda: request.completed)  # the body was well-formed, just short


async def test_slow_server_times_out(server: FakeResponsesServer, make_backend: MakeBackend):
    server.enqueue(Reply(text="late", ttft=1.0))
    with pytest.raises(BackendTimeoutError, match=r"within 0\.2s"):
        await collect(make_backend(timeout=0.2))


# ---------------------------------------------------------------------- cancellation


async def test_cancelling_the_consumer_closes_the_request(
    server: FakeResponsesServer, make_backend: MakeBackend
):
    server.enqueue(Reply(text="word " * 300, tokens_per_second=100))
    backend = make_backend()
    started = asyncio.Event()

    async def consume() -> None:
        async for chunk in backend.stream(QUESTION):
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
    server: FakeResponsesServer, make_backend: MakeBackend
):
    server.enqueue(Reply(text="word " * 300, tokens_per_second=100))
    stream = make_backend().stream(QUESTION)
    keep_alive = []  # hold the chunks (and nothing else) so only an explicit close can help
    async for chunk in stream:
        keep_alive.append(chunk)
        break
    await stream.aclose()

    request = server.requests[0]
    await server.await_for(lambda: request.client_closed, timeout=1.0)


async def test_aclose_returns_the_pooled_client_to_the_next_run(
    server: FakeResponsesServer, make_backend: MakeBackend
):
    backend = make_backend()
    await collect(backend)
    client = backend.client
    await backend.aclose()
    assert not client.is_closed  # lingers for the next run's agents
    assert make_backend().client is client


# ------------------------------------------------------------------------ endpoints


def test_registry_builds_it_for_the_official_endpoint(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-1")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-1")
    backend = create_backend(BackendConfig(type="openai", model="gpt-5"))

    assert isinstance(backend, ResponsesBackend) and backend.api_key == "sk-env"
    assert backend.url() == "https://api.openai.com/v1/responses"
    headers = backend.headers()
    assert headers["Authorization"] == "Bearer sk-env"
    # the account the SDK would name from the same variables; never to another endpoint
    assert headers["OpenAI-Organization"] == "org-1" and headers["OpenAI-Project"] == "proj-1"
    other = create_backend(BackendConfig(type="openai", model="m", base_url="http://h/v1"))
    assert "OpenAI-Organization" not in other.headers()


async def test_base_url_override_is_used(server: FakeResponsesServer, make_backend: MakeBackend):
    with FakeResponsesServer() as other:
        other.enqueue(Reply(text="from the other server"))
        chunks = await collect(make_backend(base_url=other.url))
        assert len(other.requests) == 1
    assert text_of(chunks) == "from the other server" and server.requests == []


# ------------------------------------------------------------------ the fake's wire


#: Fields the live API sends that the SDK's types do not model.
LIVE_EXTRAS = {"store"}


def _no_unknown_fields(model: Any, where: str = "") -> None:
    """Every field the fake sends is one the SDK's types know (or the live API sends)."""
    if isinstance(model, SDKModel):
        extra = set(model.model_extra or ()) - LIVE_EXTRAS
        assert not extra, f"{where}: fields the SDK does not know: {extra}"
        for name in type(model).model_fields:
            _no_unknown_fields(getattr(model, name), f"{where}.{name}")
    elif isinstance(model, list):
        for i, value in enumerate(model):
            _no_unknown_fields(value, f"{where}[{i}]")


def stream_events(server: FakeResponsesServer, body: dict[str, Any]) -> list:
    """POST a streamed request; its SSE events as the SDK's typed events, checked strictly."""
    headers = {"Authorization": f"Bearer {API_KEY}"}
    response = httpx.post(f"{server.url}/responses", json=body, headers=headers, timeout=5)
    assert response.headers["content-type"].startswith("text/event-stream")
    assert "[DONE]" not in response.text  # the Responses API does not send it
    adapter = pydantic.TypeAdapter(ResponseStreamEvent)
    events = []
    for block in response.text.strip().split("\n\n"):
        event_line, data_line = block.split("\n")
        data = json.loads(data_line.removeprefix("data: "))
        assert event_line == f"event: {data['type']}"
        event = adapter.validate_python(data)
        _no_unknown_fields(event, data["type"])
        events.append(event)
    assert [e.sequence_number for e in events] == list(range(len(events)))
    return events


def test_stream_wire_format_parses_as_the_sdks_typed_events(server: FakeResponsesServer):
    server.enqueue(
        ResponsesReply(
            reasoning="Think.\n\nThen answer.",
            text="Hello there.",
            web_searches=["q"],
            code_runs=[("print(1)", "1")],
            tool_calls=[("f", '{"a": 1}')],
        )
    )
    body = {
        "model": "m",
        "input": "Hi?",
        "stream": True,
        "reasoning": {"summary": "auto"},
        "include": ["code_interpreter_call.outputs"],
        "tools": [
            {"type": "function", "name": "f", "parameters": {}, "strict": False},
            {"type": "web_search"},
            {"type": "code_interpreter", "container": {"type": "auto"}},
        ],
    }
    events = stream_events(server, body)
    kinds = [e.type for e in events]
    assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert kinds[-1] == "response.completed"
    for kind in (
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.web_search_call.searching",
        "response.code_interpreter_call_code.delta",
        "response.content_part.added",
        "response.output_text.done",
        "response.function_call_arguments.done",
    ):
        assert kind in kinds
    final = events[-1].response
    assert [item.type for item in final.output] == [
        "reasoning",
        "web_search_call",
        "code_interpreter_call",
        "message",
        "function_call",
    ]
    assert final.output_text == "Hello there." and final.usage.total_tokens > 0
    done = [e.item for e in events if e.type == "response.output_item.done"]
    assert [item.model_dump() for item in done] == [item.model_dump() for item in final.output]


@pytest.mark.parametrize(
    ("reply", "last"),
    [
        (ResponsesReply(refusal="No."), "response.completed"),
        (ResponsesReply(reasoning="Hmm.", text="x", raw_reasoning=True), "response.completed"),
        (ResponsesReply(text="cut", error_message="boom"), "response.failed"),
        (ResponsesReply(text="cut", error_message="boom", stream_error="error_flat"), "error"),
        (Reply(reasoning="a b c", text="d e f g h i j k l m n o p q r s"), "response.incomplete"),
    ],
    ids=["refusal", "raw-reasoning", "failed", "error-flat", "incomplete"],
)
def test_other_stream_shapes_parse_as_the_sdks_typed_events(
    server: FakeResponsesServer, reply: Reply, last: str
):
    server.enqueue(reply)
    body = {"model": "m", "input": "Hi?", "stream": True, "max_output_tokens": 16}
    assert stream_events(server, body)[-1].type == last


def test_non_stream_body_and_errors(server: FakeResponsesServer):
    server.enqueue(Reply(text="Hi."), Reply(status=429, error_message="Slow down"))
    headers = {"Authorization": f"Bearer {API_KEY}"}
    ok = httpx.post(f"{server.url}/responses", json={"model": "m", "input": "Hi?"}, headers=headers)
    limited = httpx.post(
        f"{server.url}/responses", json={"model": "m", "input": "x"}, headers=headers
    )
    unauthorised = httpx.post(f"{server.url}/responses", json={"model": "m", "input": "x"})

    response = Response.model_validate(ok.json())
    _no_unknown_fields(response, "response")
    assert response.status == "completed" and response.output_text == "Hi."
    assert limited.status_code == 429
    assert limited.json()["error"] == {
        "message": "Slow down",
        "type": "rate_limit_error",
        "code": None,
        "param": None,
    }
    assert unauthorised.status_code == 401
    assert unauthorised.json()["error"]["code"] == "invalid_api_key"


# ------------------------------------------------------------- the brain and the engine


async def test_default_brain_plays_the_workflow_over_the_sdk(
    server: FakeResponsesServer, make_backend: MakeBackend
):
    backend = make_backend()
    question = [Message("system", "You are agent1."), Message("user", "Why is the sky blue?")]

    [voted] = calls_of(await collect(backend, question, [ANSWER_TOOL, VOTE_TOOL]))
    [answer] = calls_of(await collect(backend, question, [ANSWER_TOOL]))
    final = await collect(backend, question)

    assert voted.name == "vote" and voted.parsed_arguments()["agent_id"] == "agent1"
    assert answer.name == "new_answer"
    assert "Why is the sky blue?" in answer.parsed_arguments()["content"]
    assert text_of(final).startswith("Final answer:") and not calls_of(final)


async def test_three_agents_reach_a_winner_over_the_responses_api():
    with FakeResponsesServer(api_key=API_KEY) as server:
        backend = {"type": "openai", "base_url": server.url, "api_key": API_KEY, "max_retries": 0}
        config = {
            "agents": [{"id": m, "backend": {**backend, "model": m}} for m in ("m1", "m2", "m3")],
            "orchestrator": {"restart_debounce_seconds": 0},
        }
        coordinator = build_coordinator(load_config_dict(config).config, EventBus())
        try:
            result = await coordinator.run("What is 2+2?")
        finally:
            for agent in coordinator.specs:
                await agent.backend.aclose()

    assert all(isinstance(agent.backend, ResponsesBackend) for agent in coordinator.specs)
    assert result.ok and len(result.votes) == 3
    assert len(server.requests) == 7 == result.total_usage.requests
    assert result.total_usage.prompt_tokens > 0
    assert all(r.body["store"] is False and r.body["input"] for r in server.requests)


async def test_streams_tool_arguments_as_they_arrive(server, make_backend):
    first, second = '{"content": "The answer is 4 because 2 + 2 = 4."}', '{"path": "b.txt"}'
    server.enqueue(ResponsesReply(tool_calls=[("new_answer", first), ("read", second)]))
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
