"""A task's event stream whose connection breaks is resumed where it stopped: the client
reconnects with ``Last-Event-ID`` and the caller sees every event once, in order."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import httpx

from massgen.client import Client
from tests.client.conftest import API_KEY, Served

ASK = [{"role": "user", "content": "Tell me a story"}]


@contextlib.contextmanager
def cutting_proxy(target: str, cut_after: int) -> Iterator[tuple[str, list[int]]]:
    """A TCP proxy to ``target`` (host:port) whose first connection is closed after
    ``cut_after`` bytes of the answer; later ones pass whole. Yields its URL and the count of
    connections made."""
    host, port = target.rsplit(":", 1)
    listener = socket.create_server(("127.0.0.1", 0))
    connections: list[int] = []

    def pipe(src: socket.socket, dst: socket.socket, limit: int | None) -> None:
        sent = 0
        with contextlib.suppress(OSError):
            while True:
                data = src.recv(4096)
                if not data:
                    break
                if limit is not None and sent + len(data) >= limit:
                    dst.sendall(data[: limit - sent])
                    break
                dst.sendall(data)
                sent += len(data)
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = listener.accept()
                connections.append(1)
                upstream = socket.create_connection((host, int(port)))
                limit = cut_after if len(connections) == 1 else None
                threading.Thread(target=pipe, args=(conn, upstream, None), daemon=True).start()
                threading.Thread(target=pipe, args=(upstream, conn, limit), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", connections
    finally:
        listener.close()


def test_a_broken_event_stream_is_resumed_without_loss_or_repeat(server: Served) -> None:
    with Client(base_url=server.url, api_key=API_KEY) as c:
        task = c.tasks.create(ASK)
        whole = list(c.tasks.stream_events(task.id))
        raw = httpx.get(
            f"{server.url}/v1/tasks/{task.id}/events",
            headers={"Authorization": f"Bearer {API_KEY}"},
        ).content
    target = server.url.removeprefix("http://")
    with (
        cutting_proxy(target, cut_after=len(raw) // 2) as (url, connections),
        Client(base_url=url, api_key=API_KEY, max_retries=2) as through,
    ):
        seen = list(through.tasks.stream_events(task.id))
    assert len(connections) == 2  # cut once, resumed once
    assert [e.id for e in seen] == [e.id for e in whole]
    assert [e.data for e in seen] == [e.data for e in whole]
