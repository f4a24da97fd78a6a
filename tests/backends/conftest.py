"""Fixtures: one fake Chat Completions server per session, backends pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from massgen.backends.base import Backend
from massgen.backends.registry import create_backend
from massgen.config.schema import BackendConfig
from massgen.messages import Chunk, Message, ToolSpec
from tests.fakes.chat_server import FakeChatServer

API_KEY = "sk-test-0123456789"

MakeBackend = Callable[..., Backend]


@pytest.fixture(scope="session")
def chat_server() -> Iterator[FakeChatServer]:
    with FakeChatServer(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def server(chat_server: FakeChatServer) -> Iterator[FakeChatServer]:
    """The session server with empty queues and no recorded requests."""
    chat_server.reset()
    yield chat_server
    chat_server.reset()


@pytest.fixture
async def make_backend(server: FakeChatServer) -> AsyncIterator[MakeBackend]:
    """Build backends through the registry (closed after the test)."""
    made: list[Backend] = []

    def make(**fields: Any) -> Backend:
        values: dict[str, Any] = {
            "type": "chatcompletion",
            "model": "test-model",
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


async def collect(
    backend: Backend, messages: list[Message] | None = None, tools: list[ToolSpec] | None = None
) -> list[Chunk]:
    """All chunks of one call."""
    messages = messages or [Message("user", "What is 2+2?")]
    return [chunk async for chunk in backend.stream(messages, tools)]
