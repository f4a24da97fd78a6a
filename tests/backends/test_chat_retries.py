"""The backend under :func:`stream_with_retries`: retries happen once, above the SDK."""

from __future__ import annotations

import time

import pytest

from massgen.backends.errors import (
    AuthenticationError,
    BackendConnectionError,
    BackendError,
    ProviderError,
)
from massgen.backends.retry import RetryPolicy, stream_with_retries
from massgen.messages import DoneChunk, Message, TextChunk
from tests.backends.conftest import MakeBackend
from tests.fakes.chat_server import FakeChatServer, Reply

FAST = RetryPolicy(max_attempts=3, initial_delay=0.01, max_delay=0.05)
QUESTION = [Message("user", "What is 2+2?")]


async def run(backend, policy: RetryPolicy = FAST, retries: list | None = None) -> list:
    def on_retry(attempt: int, delay: float, error: BackendError) -> None:
        if retries is not None:
            retries.append((attempt, delay, error))

    return [c async for c in stream_with_retries(backend, QUESTION, None, policy, on_retry)]


async def test_429_waits_retry_after_then_succeeds(
    server: FakeChatServer, make_backend: MakeBackend
):
    server.enqueue(
        Reply(status=429, error_message="Rate limit reached", headers={"Retry-After": "0.3"}),
        Reply(text="Four."),
    )
    retries: list = []
    started = time.monotonic()
    chunks = await run(make_backend(), retries=retries)
    elapsed = time.monotonic() - started

    assert "".join(c.text for c in chunks if isinstance(c, TextChunk)) == "Four."
    assert len(server.requests) == 2
    assert [(a, d) for a, d, _ in retries] == [(1, pytest.approx(0.3))]
    assert 0.3 <= elapsed < 1.5
    gap = server.requests[1].started_at - server.requests[0].finished_at
    assert gap >= 0.25


async def test_500_then_success(server: FakeChatServer, make_backend: MakeBackend):
    server.enqueue(Reply(status=500, error_message="The server had an error"), Reply(text="ok"))
    retries: list = []
    chunks = await run(make_backend(), retries=retries)

    assert chunks[-1] == DoneChunk("stop") and len(server.requests) == 2
    assert isinstance(retries[0][2], ProviderError) and retries[0][2].status == 500


async def test_401_is_not_retried(server: FakeChatServer, make_backend: MakeBackend):
    retries: list = []
    with pytest.raises(AuthenticationError):
        await run(make_backend(api_key="sk-wrong"), retries=retries)
    assert len(server.requests) == 1 and retries == []


async def test_sdk_retries_are_off(server: FakeChatServer, make_backend: MakeBackend):
    # The SDK would retry a 500 by itself; with one attempt allowed the server sees one request.
    server.enqueue(Reply(status=500, error_message="boom"), Reply(text="ok"))
    with pytest.raises(ProviderError):
        await run(make_backend(), RetryPolicy(max_attempts=1))
    assert len(server.requests) == 1


async def test_dropped_stream_without_retries_raises(
    server: FakeChatServer, make_backend: MakeBackend
):
    server.enqueue(Reply(text="The answer is four.", drop_after_chunks=2))
    with pytest.raises(BackendConnectionError, match="stream ended unexpectedly"):
        await run(make_backend(), RetryPolicy(max_attempts=1))


async def test_dropped_stream_is_retried(server: FakeChatServer, make_backend: MakeBackend):
    server.enqueue(Reply(text="The answer", drop_after_chunks=2), Reply(text="The answer is 4."))
    retries: list = []
    chunks = await run(make_backend(), retries=retries)

    assert len(retries) == 1 and isinstance(retries[0][2], BackendConnectionError)
    # the partial text of the first attempt came first; the caller discards it on_retry
    assert "".join(c.text for c in chunks if isinstance(c, TextChunk)) == "TheThe answer is 4."
    assert chunks[-1] == DoneChunk("stop") and len(server.requests) == 2
