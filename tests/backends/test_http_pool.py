"""The HTTP clients the OpenAI backends take and give back (massgen.backends.http_pool): one
per backend at a time, warm for the next run's agents, closed when unused or when their loop
ends; and the one reconnect when a kept-alive connection was closed before it answered."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from massgen.backends import gate, http_pool
from massgen.backends.registry import create_backend
from massgen.config.schema import BackendConfig
from massgen.messages import Message, TextChunk
from tests.backends.conftest import API_KEY, MakeBackend, collect
from tests.fakes.chat_server import FakeChatServer, Reply


async def test_the_next_runs_agents_send_on_connections_already_open(
    server: FakeChatServer, make_backend: MakeBackend
):
    """Two agents of a run, each on its own client; the next run's two agents, made after
    the first run closed its backends, take those clients and their open connections."""
    run = [make_backend(), make_backend()]
    for backend in run:
        await collect(backend)
        await collect(backend)  # an agent's next call: its own connection again
    for backend in run:
        await backend.aclose()
    next_run = [make_backend(), make_backend()]
    for backend in next_run:
        await collect(backend)
    peers = [r.peer for r in server.requests]
    assert peers[0] == peers[1] and peers[2] == peers[3] and peers[0] != peers[2]
    assert set(peers[4:]) == {peers[0], peers[2]}  # no new connection for the next run


async def test_a_client_no_run_uses_closes_after_lingering(
    server: FakeChatServer, make_backend: MakeBackend, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(http_pool, "LINGER_SECONDS", 0.05)
    backend = make_backend()
    await collect(backend)
    client = backend.client
    await backend.aclose()
    assert not client.is_closed  # kept for the next run...
    await server.await_for(lambda: client.is_closed, timeout=2.0)
    assert client.is_closed and http_pool.idle_clients() == 0  # ...for a while only


async def test_a_burst_of_calls_to_one_endpoint_is_not_queued_by_the_pool(
    server: FakeChatServer, make_backend: MakeBackend
):
    """No cap of the pool's own on connections: 120 calls at once (a server's burst) are
    all in flight together, none waits for another to finish."""
    count = 120
    server.enqueue(*[Reply(text="ok", ttft=1.0) for _ in range(count)])
    backends = [make_backend() for _ in range(count)]
    await asyncio.gather(*(collect(b) for b in backends))
    first_done = min(r.finished_at or 0.0 for r in server.requests)
    assert sum(r.started_at < first_done for r in server.requests) == count


def test_a_lingering_client_is_closed_when_the_event_loop_ends(server: FakeChatServer):
    """``asyncio.run`` ending while a client lingers for a next run closes it: a script
    using massgen leaves no unclosed connection behind (Python's dev mode reports them)."""
    code = (
        "import asyncio\n"
        "from massgen.backends.registry import create_backend\n"
        "from massgen.config.schema import BackendConfig\n"
        "from massgen.messages import Message\n"
        "async def main():\n"
        f"    b = create_backend(BackendConfig(type='chatcompletion', model='m', "
        f"base_url={server.url!r}, api_key={API_KEY!r}))\n"
        "    [c async for c in b.stream([Message('user', 'q')])]\n"
        "    await b.aclose()\n"
        "asyncio.run(main())\n"
        "import gc; gc.collect()\n"
        "print('done')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-X", "dev", "-c", code], capture_output=True, text=True, timeout=60
    )
    assert proc.stdout.strip() == "done", proc.stderr
    assert "unclosed" not in proc.stderr and "destroyed but it is pending" not in proc.stderr


class ClosingServer:
    """A raw HTTP/1.1 server whose first connection answers one request, keeps the
    connection open, then closes it without answering the next (as a server closing an idle
    kept-alive connection does); every later connection answers normally."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests = 0
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self.serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        first_connection = self.connections == 1
        answered = 0
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
            await reader.readexactly(length)
            self.requests += 1
            if first_connection and answered == 1:
                writer.close()  # the idle connection closed as the request arrives
                return
            chunk = {"choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}]}
            body = f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()
            answered += 1


async def test_a_connection_closed_before_answering_is_replaced_not_blamed():
    """The second call meets the first call's connection closed by the server: it is sent
    once more on a new connection and answered, and the local server is not marked as one
    that cuts streams (which would serialize every later request to it)."""
    closing = ClosingServer()
    async with closing as url:
        backend = create_backend(BackendConfig(type="vllm", model="m", base_url=url))
        try:
            texts = []
            for _ in range(2):
                chunks = [c async for c in backend.stream([Message("user", "q")])]
                texts.append("".join(c.text for c in chunks if isinstance(c, TextChunk)))
        finally:
            await backend.aclose()
    assert texts == ["hi", "hi"]
    assert closing.connections == 2 and closing.requests == 3
    assert gate.limit_for(url, None) is None
