"""The ``gemini`` backend through the real google-genai SDK against the fake Gemini server."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from massgen.backends.base import Backend
from massgen.backends.errors import (
    AuthenticationError,
    BackendConnectionError,
    BackendTimeoutError,
    ContextLengthError,
    ProviderError,
    RateLimitError,
)
from massgen.backends.gemini import GeminiBackend, split_base_url
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
    ToolCall,
    ToolCallChunk,
    ToolSpec,
    UsageChunk,
)
from tests.backends.conftest import collect
from tests.fakes.gemini_server import FakeGeminiServer, GeminiReply, GeminiRequest, Reply

API_KEY = "AIza-test-0123456789"

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
        "required": ["agent_id", "reason"],
    },
)


@pytest.fixture(scope="module")
def gemini_server() -> Iterator[FakeGeminiServer]:
    with FakeGeminiServer(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def server(gemini_server: FakeGeminiServer) -> Iterator[FakeGeminiServer]:
    gemini_server.reset()
    yield gemini_server
    gemini_server.require_thought_signatures = False
    gemini_server.reset()


@pytest.fixture
async def make_backend(server: FakeGeminiServer) -> AsyncIterator[Any]:
    made: list[Backend] = []

    def make(**fields: Any) -> GeminiBackend:
        values: dict[str, Any] = {
            "type": "gemini",
            "model": "gemini-test",
            "base_url": server.url,
            "api_key": API_KEY,
            **fields,
        }
        backend = create_backend(BackendConfig(**values))
        assert isinstance(backend, GeminiBackend)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        await backend.aclose()


def text_of(chunks: list) -> str:
    return "".join(c.text for c in chunks if isinstance(c, TextChunk))


def calls_of(chunks: list) -> list[ToolCall]:
    return [c.call for c in chunks if isinstance(c, ToolCallChunk)]


def last(server: FakeGeminiServer) -> GeminiRequest:
    return server.requests[-1]


# ------------------------------------------------------------------------- streaming


async def test_streams_text_deltas_then_done(server: FakeGeminiServer, make_backend):
    server.enqueue(Reply(text="Four, because two plus two is four."))
    chunks = await collect(make_backend())

    assert len([c for c in chunks if isinstance(c, TextChunk)]) > 3  # deltas, not one block
    assert text_of(chunks) == "Four, because two plus two is four."
    assert chunks[-1] == DoneChunk("stop")
    request = last(server)
    assert request.method == "streamGenerateContent" and request.query == {"alt": "sse"}
    assert request.model == "gemini-test"
    assert request.api_version == "v1"  # google-genai 3.x's default API version
    assert request.headers["x-goog-api-key"] == API_KEY
    await server.await_for(lambda: request.completed)  # read to the end, not cut


async def test_non_stream_mode_uses_generate_content(server: FakeGeminiServer, make_backend):
    server.enqueue(
        Reply(text="Four.", reasoning="2+2", tool_calls=[("new_answer", '{"content": "4"}')])
    )
    chunks = await collect(make_backend(stream=False), tools=[ANSWER_TOOL])

    assert last(server).method == "generateContent" and not last(server).query
    assert [type(c) for c in chunks] == [
        ReasoningChunk,
        TextChunk,
        ToolCallChunk,
        UsageChunk,
        DoneChunk,
    ]
    assert chunks[0].text == "2+2" and text_of(chunks) == "Four."
    assert calls_of(chunks)[0].parsed_arguments() == {"content": "4"}
    assert chunks[-1] == DoneChunk("tool_calls")


async def test_request_body_system_instruction_tools_and_settings(
    server: FakeGeminiServer, make_backend
):
    backend = make_backend(temperature=0.3, top_p=0.9, max_tokens=64, seed=7)
    messages = [
        Message("system", "Be brief."),
        Message("user", "What is 2+2?"),
    ]
    await collect(backend, messages, [ANSWER_TOOL, VOTE_TOOL])

    body = last(server).body
    assert body["systemInstruction"]["parts"] == [{"text": "Be brief."}]
    assert body["contents"] == [{"role": "user", "parts": [{"text": "What is 2+2?"}]}]
    [tool] = body["tools"]
    declarations = tool["functionDeclarations"]
    assert [d["name"] for d in declarations] == ["new_answer", "vote"]
    assert declarations[0]["description"] == "Submit an answer"
    assert declarations[1]["parameters_json_schema"] == VOTE_TOOL.parameters
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}
    generation = body["generationConfig"]
    assert generation == {"temperature": 0.3, "topP": 0.9, "maxOutputTokens": 64, "seed": 7}


async def test_one_function_call(server: FakeGeminiServer, make_backend):
    arguments = json.dumps({"content": "The answer is 4 because 2 + 2 = 4."})
    server.enqueue(Reply(text="Submitting.", tool_calls=[("new_answer", arguments)]))
    chunks = await collect(make_backend(), tools=[ANSWER_TOOL])

    [call] = calls_of(chunks)
    assert call.name == "new_answer" and call.id.startswith("call_")
    assert call.parsed_arguments() == {"content": "The answer is 4 because 2 + 2 = 4."}
    assert text_of(chunks) == "Submitting."
    assert chunks[-1] == DoneChunk("tool_calls")


async def test_two_parallel_function_calls_keep_provider_ids(
    server: FakeGeminiServer, make_backend
):
    server.enqueue(
        GeminiReply(
            tool_calls=[("read_file", '{"path": "a.txt"}'), ("read_file", '{"path": "bb.txt"}')],
            call_ids=True,
        )
    )
    chunks = await collect(make_backend(), tools=[ANSWER_TOOL])

    calls = calls_of(chunks)
    assert [c.parsed_arguments()["path"] for c in calls] == ["a.txt", "bb.txt"]
    assert all(c.id.startswith("fc_") for c in calls)  # the ids the server gave
    assert calls[0].id != calls[1].id


async def test_automatic_function_calling_is_off(server: FakeGeminiServer, make_backend):
    backend = make_backend()
    config = backend.request_config(None, [ANSWER_TOOL])
    assert config.automatic_function_calling.disable is True
    assert config.automatic_continuation is False

    server.enqueue(Reply(tool_calls=[("new_answer", '{"content": "4"}')]))
    chunks = await collect(backend, tools=[ANSWER_TOOL])
    # the call comes back to massgen: nothing ran it and sent a function response
    assert [c.name for c in calls_of(chunks)] == ["new_answer"]
    assert len(server.requests) == 1


async def test_function_responses_are_sent_back_merged(server: FakeGeminiServer, make_backend):
    calls = [
        ToolCall("call_a", "new_answer", '{"content": "x"}'),
        ToolCall("call_b", "vote", '{"agent_id": "agent1"}'),
    ]
    messages = [
        Message("user", "Answer."),
        Message("assistant", "Trying both.", tool_calls=calls),
        Message("tool", "Error: one action only", tool_call_id="call_a", name="new_answer"),
        Message("tool", "Error: one action only", tool_call_id="call_b"),  # name from the call
        Message("user", "Now call exactly one tool."),
    ]
    await collect(make_backend(), messages, [ANSWER_TOOL])

    contents = last(server).body["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[1]["parts"] == [
        {"text": "Trying both."},
        {"functionCall": {"name": "new_answer", "args": {"content": "x"}}},
        {"functionCall": {"name": "vote", "args": {"agent_id": "agent1"}}},
    ]
    assert contents[2]["parts"] == [
        {
            "functionResponse": {
                "name": "new_answer",
                "response": {"result": "Error: one action only"},
            }
        },
        {"functionResponse": {"name": "vote", "response": {"result": "Error: one action only"}}},
        {"text": "Now call exactly one tool."},
    ]


async def test_replayed_calls_carry_their_thought_signature_and_id(
    server: FakeGeminiServer, make_backend
):
    server.require_thought_signatures = True  # as Gemini 3 models do
    backend = make_backend()
    server.enqueue(GeminiReply(tool_calls=[("new_answer", '{"content": ""}')], call_ids=True))
    [call] = calls_of(await collect(backend, tools=[ANSWER_TOOL]))
    history = [
        Message("user", "q"),
        Message("assistant", "", tool_calls=[call]),
        Message("tool", "Error: empty answer", tool_call_id=call.id, name=call.name),
    ]
    chunks = await collect(backend, history, [ANSWER_TOOL])

    assert isinstance(chunks[-1], DoneChunk)
    model_turn, responses = last(server).body["contents"][1:]
    part = model_turn["parts"][0]
    assert base64.b64decode(part["thoughtSignature"]).startswith(b"sig-")  # the server's
    assert part["functionCall"]["id"] == call.id
    assert responses["parts"][0]["functionResponse"]["id"] == call.id

    # another backend never saw that call: the server rejects the unsigned replay
    with pytest.raises(ProviderError, match="thought_signature") as info:
        await collect(make_backend(), history, [ANSWER_TOOL])
    assert info.value.status == 400 and not info.value.retryable


async def test_malformed_arguments_in_history_are_kept_raw(server: FakeGeminiServer, make_backend):
    history = [
        Message("user", "q"),
        Message("assistant", "", tool_calls=[ToolCall("c1", "new_answer", '{"content": "unterm')]),
        Message("tool", "Error: arguments are not valid JSON", tool_call_id="c1"),
    ]
    await collect(make_backend(), history, [ANSWER_TOOL])

    call = last(server).body["contents"][1]["parts"][0]["functionCall"]
    assert call["args"] == {"_raw_arguments": '{"content": "unterm'}


async def test_malformed_function_call_from_the_model(server: FakeGeminiServer, make_backend):
    server.enqueue(Reply(tool_calls=[("new_answer", '{"content": "unterminated')]))
    chunks = await collect(make_backend(), tools=[ANSWER_TOOL])

    assert not calls_of(chunks)
    assert chunks[-1] == DoneChunk("malformed_function_call")


async def test_thoughts_are_reasoning_chunks(server: FakeGeminiServer, make_backend):
    server.enqueue(Reply(reasoning="Two and two make four.", text="4"))
    chunks = await collect(make_backend(thinking_budget=512))

    reasoning = [c for c in chunks if isinstance(c, ReasoningChunk)]
    assert len(reasoning) > 1 and "".join(c.text for c in reasoning) == "Two and two make four."
    assert text_of(chunks) == "4"
    first_text = next(i for i, c in enumerate(chunks) if isinstance(c, TextChunk))
    assert chunks.index(reasoning[-1]) < first_text
    thinking = last(server).body["generationConfig"]["thinkingConfig"]
    assert thinking == {"include_thoughts": True, "thinking_budget": 512}


async def test_web_search_and_code_execution_are_provider_tool_chunks(
    server: FakeGeminiServer, make_backend
):
    server.enqueue(
        GeminiReply(
            code_executions=[("print(2 + 2)", "4\n")],
            search_queries=["sum of two and two"],
            text="It is 4.",
        )
    )
    backend = make_backend(enable_web_search=True, enable_code_execution=True)
    chunks = await collect(backend, tools=[ANSWER_TOOL])

    tools = [c for c in chunks if isinstance(c, ProviderToolChunk)]
    assert [(c.name, c.status, c.detail) for c in tools] == [
        ("code_execution", "started", "print(2 + 2)"),
        ("code_execution", "finished", "4\n"),
        ("web_search", "started", "sum of two and two"),
        ("web_search", "finished", "1 sources"),
    ]
    assert tools[0].call_id == tools[1].call_id != tools[2].call_id == tools[3].call_id
    assert text_of(chunks) == "It is 4."
    sent = last(server).body["tools"]
    assert {"googleSearch": {}} in sent and {"codeExecution": {}} in sent
    assert any("functionDeclarations" in t for t in sent)


async def test_usage_counts_thoughts_as_completion(server: FakeGeminiServer, make_backend):
    server.enqueue(
        Reply(
            reasoning="let me think about it",
            text="four",
            prompt_tokens=120,
            completion_tokens=40,  # candidatesTokenCount: Gemini leaves thinking out
            reasoning_tokens=9,  # thoughtsTokenCount
            cached_tokens=100,
        )
    )
    chunks = await collect(make_backend())

    usage = [c for c in chunks if isinstance(c, UsageChunk)]
    # one chunk, from the last (cumulative) usageMetadata, not a sum over the stream
    assert usage == [UsageChunk(120, 49, reasoning_tokens=9, cached_tokens=100)]
    assert chunks[-2] is usage[0] and isinstance(chunks[-1], DoneChunk)


async def test_a_continuation_is_followed_here_not_by_the_sdk(
    server: FakeGeminiServer, make_backend
):
    server.enqueue(
        GeminiReply(
            text="The first half,",
            finish_reason="CONTINUATION",
            continuation_token="resume-here",
            prompt_tokens=10,
            completion_tokens=3,
        ),
        Reply(text=" and the rest.", prompt_tokens=10, completion_tokens=3),
    )
    chunks = await collect(make_backend())

    assert text_of(chunks) == "The first half, and the rest."
    assert UsageChunk(20, 6) in chunks and chunks[-1] == DoneChunk("stop")
    first, second = server.requests
    assert "continuationToken" not in first.body
    assert base64.b64decode(second.body["continuationToken"]) == b"resume-here"


async def test_the_sdk_does_not_resume_a_dropped_stream(server: FakeGeminiServer, make_backend):
    # every chunk carries a checkpoint: the SDK's automatic continuation would reconnect
    server.enqueue(
        GeminiReply(text="one two three four five", checkpoints=True, drop_after_chunks=2)
    )
    with pytest.raises(BackendConnectionError):
        await collect(make_backend())
    assert len(server.requests) == 1


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize("stream", [True, False])
async def test_a_blocked_prompt_is_not_retryable(
    server: FakeGeminiServer, make_backend, stream: bool
):
    server.enqueue(GeminiReply(block_reason="PROHIBITED_CONTENT"))
    with pytest.raises(ProviderError, match=r"blocked \(PROHIBITED_CONTENT\)") as info:
        await collect(make_backend(stream=stream))
    assert not info.value.retryable


@pytest.mark.parametrize(
    ("reply", "key", "status"),
    [
        (None, "AIza-wrong-key-42", 400),  # Google answers a wrong key with 400 API_KEY_INVALID
        (Reply(status=401, error_message="Request had invalid credentials."), API_KEY, 401),
        (Reply(status=403, error_message="Permission denied on the model."), API_KEY, 403),
    ],
)
async def test_authentication_errors(
    server: FakeGeminiServer, make_backend, reply: Reply | None, key: str, status: int
):
    if reply is not None:
        server.enqueue(reply)
    with pytest.raises(AuthenticationError) as info:
        await collect(make_backend(api_key=key))

    error = info.value
    assert error.status == status and error.provider == "gemini" and not error.retryable
    assert error.message == (
        reply.error_message if reply else "API key not valid. Please pass a valid API key."
    )
    assert key not in str(error)


async def test_a_provider_echoing_the_key_is_scrubbed(server: FakeGeminiServer, make_backend):
    server.enqueue(Reply(status=403, error_message=f"key {API_KEY} lacks access"))
    with pytest.raises(AuthenticationError) as info:
        await collect(make_backend())
    assert API_KEY not in str(info.value) and "lacks access" in str(info.value)


async def test_429_is_a_rate_limit_with_retry_after(server: FakeGeminiServer, make_backend):
    server.enqueue(
        Reply(status=429, error_message="Slow down", headers={"Retry-After": "3"}),
        GeminiReply(status=429, error_message="Quota exceeded", retry_delay="1.5s"),
        Reply(status=429, error_message="Resource has been exhausted"),
    )
    errors = []
    for _ in range(3):
        with pytest.raises(RateLimitError) as info:
            await collect(make_backend())
        errors.append(info.value)

    assert [e.retry_after for e in errors] == [3.0, 1.5, None]
    assert errors[0].message == "Slow down" and errors[0].status == 429
    assert all(e.retryable for e in errors)


async def test_429_is_retried_once_by_massgen_not_the_sdk(server: FakeGeminiServer, make_backend):
    server.enqueue(
        GeminiReply(status=429, error_message="Slow down", retry_delay="0s"),
        Reply(text="Four."),
    )
    backend = make_backend()
    assert backend.client._api_client._http_options.retry_options.attempts == 1
    retries: list = []
    stream = stream_with_retries(
        backend,
        [Message("user", "q")],
        None,
        RetryPolicy(max_attempts=3, initial_delay=0),
        lambda attempt, delay, error: retries.append((attempt, delay, type(error))),
    )
    chunks = [chunk async for chunk in stream]

    assert text_of(chunks) == "Four."
    assert retries == [(1, 0.0, RateLimitError)]
    assert [r.status for r in server.requests] == [429, 200]


@pytest.mark.parametrize("status", [500, 503])
async def test_server_errors_are_retryable_provider_errors(
    server: FakeGeminiServer, make_backend, status: int
):
    server.enqueue(Reply(status=status, error_message="The model is overloaded."))
    with pytest.raises(ProviderError) as info:
        await collect(make_backend())
    assert info.value.status == status and info.value.retryable
    assert info.value.message == "The model is overloaded."
    assert len(server.requests) == 1


async def test_not_found_is_not_retryable(server: FakeGeminiServer, make_backend):
    message = "models/nope is not found for API version v1, or is not supported."
    server.enqueue(Reply(status=404, error_message=message))
    with pytest.raises(ProviderError, match="is not found") as info:
        await collect(make_backend())
    assert info.value.status == 404 and not info.value.retryable


async def test_context_length_error(server: FakeGeminiServer, make_backend):
    message = (
        "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."
    )
    server.enqueue(Reply(status=400, error_message=message))
    with pytest.raises(ContextLengthError) as info:
        await collect(make_backend())
    assert info.value.message == message and info.value.status == 400


async def test_error_event_inside_the_stream(server: FakeGeminiServer, make_backend):
    server.enqueue(Reply(text="partial answer", error_message="upstream overloaded"))
    seen: list = []
    with pytest.raises(ProviderError, match="upstream overloaded") as info:
        async for chunk in make_backend().stream([Message("user", "q")]):
            seen.append(chunk)
    assert info.value.status == 500 and info.value.retryable
    assert text_of(seen) == "partial answer"


@pytest.mark.parametrize("stream", [True, False])
async def test_a_dropped_connection_is_a_connection_error(
    server: FakeGeminiServer, make_backend, stream: bool
):
    server.enqueue(Reply(text="one two three four five six", drop_after_chunks=3))
    seen: list = []
    with pytest.raises(BackendConnectionError) as info:
        async for chunk in make_backend(stream=stream).stream([Message("user", "q")]):
            seen.append(chunk)
    assert info.value.retryable
    if stream:
        assert "stream ended unexpectedly" in info.value.message
        assert text_of(seen) == "one two three"


async def test_a_stream_cut_before_the_finish_is_a_connection_error(
    server: FakeGeminiServer, make_backend
):
    server.enqueue(Reply(text="one two three", end_after_chunks=2))
    with pytest.raises(BackendConnectionError, match="before the model finished"):
        await collect(make_backend())
    request = last(server)
    await server.await_for(lambda: request.completed)  # a well-formed body, just short


@pytest.mark.parametrize("stream", [True, False])
async def test_a_slow_server_times_out(server: FakeGeminiServer, make_backend, stream: bool):
    server.enqueue(Reply(text="late", ttft=1.0))
    with pytest.raises(BackendTimeoutError, match=r"within 0\.2s"):
        await collect(make_backend(timeout=0.2, stream=stream))


async def test_an_unreachable_server_is_a_connection_error(make_backend):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(BackendConnectionError, match=f"127.0.0.1:{port}"):
        await collect(make_backend(base_url=f"http://127.0.0.1:{port}"))


# ---------------------------------------------------------------------- cancellation


async def test_cancelling_the_consumer_closes_the_request(server: FakeGeminiServer, make_backend):
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


async def test_stopping_iteration_closes_the_request(server: FakeGeminiServer, make_backend):
    # the SDK's nested generators would keep the response open until garbage collection
    server.enqueue(Reply(text="word " * 300, tokens_per_second=100))
    stream = make_backend().stream([Message("user", "q")])
    keep_alive = []
    async for chunk in stream:
        keep_alive.append(chunk)
        break
    await stream.aclose()

    request = server.requests[0]
    await server.await_for(
        lambda: request.client_closed, timeout=5.0
    )  # generous under load; a finished stream never sets it


async def test_aclose_closes_the_sdk_client(server: FakeGeminiServer, make_backend):
    backend = make_backend()
    await collect(backend)
    http = backend.client._api_client._async_httpx_client
    await backend.aclose()
    assert http.is_closed
    await collect(backend)  # used again: a new client
    assert len(server.requests) == 2


# ------------------------------------------------------------- endpoint, key, import


async def test_base_url_override_and_api_version_in_it(server: FakeGeminiServer, make_backend):
    backend = make_backend(base_url=f"{server.url}/v1beta/")
    await collect(backend)

    assert backend.base_url == server.url
    assert last(server).api_version == "v1beta"  # not /v1beta/v1/...
    assert split_base_url("https://generativelanguage.googleapis.com") == (
        "https://generativelanguage.googleapis.com",
        None,
    )
    assert split_base_url("https://proxy.example/gemini/v1alpha") == (
        "https://proxy.example/gemini",
        "v1alpha",
    )


def test_default_endpoint_and_key_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.setenv("GOOGLE_API_KEY", "AIza-env")
    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")  # must not switch to Vertex AI
    backend = create_backend(BackendConfig(type="gemini", model="gemini-2.5-flash"))

    assert backend.api_key == "AIza-env"
    api = backend.client._api_client
    assert not api.vertexai
    assert api._http_options.base_url == "https://generativelanguage.googleapis.com"
    assert api._http_options.timeout == 120_000


def test_config_loading_does_not_import_the_sdk():
    code = (
        "import sys\n"
        "from massgen.config.loader import load_config_dict\n"
        "load_config_dict({'agent': {'backend': {'type': 'gemini', 'model': 'm'}}})\n"
        "assert 'google.genai' not in sys.modules, 'google.genai imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)


# ------------------------------------------------------------------ the default brain


async def test_default_brain_plays_the_workflow_over_the_sdk(
    server: FakeGeminiServer, make_backend
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


async def test_three_gemini_agents_reach_a_winner_through_the_engine():
    with FakeGeminiServer(api_key=API_KEY) as server:
        agents = [
            {
                "id": model,
                "backend": {
                    "type": "gemini",
                    "model": model,
                    "base_url": server.url,
                    "api_key": API_KEY,
                    "max_retries": 0,
                },
            }
            for model in ("gemini-a", "gemini-b", "gemini-c")
        ]
        config = load_config_dict(
            {"agents": agents, "orchestrator": {"restart_debounce_seconds": 0}}
        ).config
        coordinator = build_coordinator(config, EventBus())
        try:
            result = await coordinator.run("What is 2+2?")
        finally:
            for agent in coordinator.specs:
                await agent.backend.aclose()

    assert result.ok and len(result.votes) == 3
    assert result.winner in {"gemini-a", "gemini-b", "gemini-c"} and result.final_answer
    assert all(isinstance(a.backend, GeminiBackend) for a in coordinator.specs)
    assert len(server.requests) == 7 == result.total_usage.requests
    assert {r.model for r in server.requests} == {"gemini-a", "gemini-b", "gemini-c"}
    assert all(r.status == 200 for r in server.requests)
    assert result.total_usage.prompt_tokens > 0
