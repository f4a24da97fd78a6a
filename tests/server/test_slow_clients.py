"""Slow and hostile connections: a client that trickles its headers is cut off, the number of
open connections is bounded, and everybody else is still served (``massgen serve`` as a real
process, loopback only, a bounded number of sockets)."""

from __future__ import annotations

import resource
import socket
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.fakes.chat_server import FakeChatServer
from tests.server.conftest import massgen_serve

SLOW_CLIENTS = 300


@pytest.fixture
def config(tmp_path: Path) -> tuple[Path, FakeChatServer]:
    fake = FakeChatServer().start()
    path = tmp_path / "team.yaml"
    path.write_text(
        yaml.safe_dump(
            {"agents": [{"backend": {"type": "vllm", "model": "m", "base_url": fake.url}}]}
        )
    )
    yield path, fake
    fake.stop()


def _slow_client(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # never finished
    return sock


def _closed(sock: socket.socket) -> bool:
    """Whether the server has closed ``sock`` (EOF, a 408, or a reset)."""
    sock.settimeout(0.2)
    try:
        data = sock.recv(4096)
    except TimeoutError:
        return False
    except OSError:
        return True
    return data == b"" or data.startswith(b"HTTP/1.1 408")


def _low_fd_limit() -> None:  # a small descriptor budget, as on many hosts
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))


def test_slow_clients_cannot_starve_the_server(config: tuple[Path, FakeChatServer]) -> None:
    path, _ = config
    with massgen_serve(path, "--request-timeout", "3", preexec_fn=_low_fd_limit) as server:
        port = int(server.url.rsplit(":", 1)[1])
        slow = [_slow_client(port) for _ in range(SLOW_CLIENTS)]
        time.sleep(0.5)  # they are slow clients: they have been waiting when others arrive
        try:
            # more slow clients than the server has descriptors for: it still answers
            started = time.monotonic()
            health = httpx.get(f"{server.url}/health", timeout=5)
            assert health.status_code == 200
            assert time.monotonic() - started < 2
            completion = httpx.post(
                f"{server.url}/v1/chat/completions",
                json={"model": "massgen", "messages": [{"role": "user", "content": "2+2?"}]},
                timeout=30,
            )
            assert completion.status_code == 200
            # past the request timeout every slow client has been cut off
            time.sleep(3.5)
            assert sum(_closed(sock) for sock in slow) == SLOW_CLIENTS
        finally:
            for sock in slow:
                sock.close()
        server.process.terminate()
        server.process.wait(timeout=10)
        log = server.stderr()
    assert "EMFILE" not in log and "Too many open files" not in log
    assert "Traceback" not in log


def test_a_slow_body_gets_408(config: tuple[Path, FakeChatServer]) -> None:
    path, _ = config
    with massgen_serve(path, "--request-timeout", "1") as server:
        port = int(server.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(
                b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
            )
            sock.settimeout(10)
            reply = b""
            while chunk := sock.recv(4096):
                reply += chunk
    assert reply.startswith(b"HTTP/1.1 408")
    assert b"request body not received within 1s" in reply
