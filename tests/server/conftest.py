"""Helpers for server tests that need a real ``massgen serve`` process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ServeProcess:
    process: subprocess.Popen[str]
    url: str

    def stderr(self) -> str:
        return self.process.stderr.read() if self.process.stderr else ""


@contextmanager
def massgen_serve(
    config: Path,
    *args: str,
    env: dict[str, str] | None = None,
    preexec_fn: Callable[[], None] | None = None,
    log_dir: Path | None = None,
) -> Iterator[ServeProcess]:
    """``massgen serve --config CONFIG ARGS`` on a free loopback port, ready to answer
    (session logs under ``log_dir``; none without it)."""
    port = free_port()
    command: Sequence[str] = [
        sys.executable,
        "-m",
        "massgen",
        "serve",
        "--config",
        str(config),
        "--port",
        str(port),
        *(["--log-dir", str(log_dir)] if log_dir else ["--no-log"]),
        *args,
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        preexec_fn=preexec_fn,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/health", timeout=1)
                break
            except httpx.HTTPError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"massgen serve did not start: {process.stderr.read()}"
                    ) from None
                time.sleep(0.1)
        yield ServeProcess(process, url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ---------------------------------------------------------------- task store backends

import pytest  # noqa: E402

from tests.server.support import Postgres  # noqa: E402


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A real PostgreSQL server for the session (skipped, saying why, where none can run)."""
    try:
        server = Postgres()
    except (RuntimeError, OSError) as exc:
        pytest.skip(f"PostgreSQL cannot run here: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh task store: SQLite in a temp dir, and a database on the real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tasks.db'}"
    return request.getfixturevalue("postgres").database()
