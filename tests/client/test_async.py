"""The asyncio client against a real ``massgen serve``: the peer SDK's async examples (a
call and ``close``, concurrent calls under a semaphore, streaming with ``async for``) and a
task's events."""

from __future__ import annotations

import asyncio

import pytest

from massgen.client import AsyncClient, AsyncStream, AuthenticationError
from tests.client.conftest import API_KEY, Served


async def test_a_call_then_close(server: Served) -> None:
    client = AsyncClient(api_key=API_KEY, base_url=server.url)
    response = await client.chat.completions.create(
        model="helixagent-ensemble", messages=[{"role": "user", "content": "Hello"}]
    )
    await client.close()
    assert "Hello" in (response.choices[0].message.content or "")
    assert client.http.is_closed


async def test_concurrent_calls_queue_behind_the_busy_server(server: Served) -> None:
    """Three calls at once on a server that runs one at a time: the others get 429 and
    retry after the server's Retry-After, so all three answer."""

    async def one(client: AsyncClient, prompt: str) -> str:
        response = await client.chat.completions.create(
            messages=[{"role": "user", "content": prompt}]
        )
        return response.choices[0].message.content or ""

    async with AsyncClient(api_key=API_KEY, base_url=server.url, max_retries=5) as client:
        results = await asyncio.gather(*(one(client, f"Prompt {i}") for i in (1, 2, 3)))
    assert [f"Prompt {i}" in text for i, text in zip((1, 2, 3), results, strict=True)] == [True] * 3


async def test_streaming_with_async_for(server: Served) -> None:
    async with AsyncClient(api_key=API_KEY, base_url=server.url) as client:
        stream = await client.chat.completions.create(
            messages=[{"role": "user", "content": "Tell me a story"}], stream=True
        )
        assert isinstance(stream, AsyncStream)
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        completion = await client.completions.create(prompt="Once upon a time", stream=True)
        pieces = [c.choices[0].text async for c in completion]
    assert text.startswith("Final answer: Tell me a story")
    assert "Once upon a time" in "".join(pieces)


async def test_tasks_and_their_events(server: Served) -> None:
    async with AsyncClient(api_key=API_KEY, base_url=server.url) as client:
        task = await client.tasks.create([{"role": "user", "content": "Summarise"}])
        events = [e async for e in client.tasks.stream_events(task.id)]
        result = await client.tasks.get_result(task.id)
        health = await client.providers.health()
        async with AsyncClient(api_key="wrong", base_url=server.url) as wrong:
            with pytest.raises(AuthenticationError):
                await wrong.tasks.list()
    assert events[-1].type == "completed"
    assert result.output is not None and "Summarise" in result.output
    assert health.status == "ok"
