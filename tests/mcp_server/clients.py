"""Connecting the ``mcp`` client SDK to ``massgen mcp``: over stdio (the command spawned by
the SDK) or over streamable HTTP (the command started here, its address read from stderr)."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from tests.mcp_server.conftest import MASSGEN


@contextlib.asynccontextmanager
async def over_stdio(
    args: Sequence[str], env: dict[str, str], cwd: Path, **client: Any
) -> AsyncIterator[Client]:
    params = StdioServerParameters(command=MASSGEN[0], args=[*MASSGEN[1:], *args], env=env, cwd=cwd)
    async with Client(params, **client) as session:
        yield session


@contextlib.contextmanager
def http_server(args: Sequence[str], env: dict[str, str], cwd: Path) -> Iterator[str]:
    """``massgen mcp --http --port 0 ARGS`` running; yields its URL."""
    proc = subprocess.Popen(
        [*MASSGEN, "--http", "--port", "0", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 30
        line = ""
        while "serving on " not in line:
            line = proc.stderr.readline()
            if (not line and proc.poll() is not None) or time.monotonic() > deadline:
                raise AssertionError(f"massgen mcp --http did not start: {line!r}")
        yield line.split("serving on ", 1)[1].strip()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def until(predicate: Any, within: float = 20.0) -> None:
    """Wait (without blocking the loop) until ``predicate()`` is true: it reads what the
    fake provider's thread records, so it is polled."""
    with anyio.fail_after(within):
        while not predicate():  # noqa: ASYNC110
            await anyio.sleep(0.02)
