"""A command's process run to its end or its time limit, whichever comes first, with its
output read as it comes and only a bounded part of it kept.

Why not ``asyncio.subprocess.PIPE`` and ``communicate()``: it keeps all the output until the
end (300 MB of output is 1.3 GB of memory), and once it is cancelled nothing reads the pipe
any more, so a writer such as ``yes`` blocks on a full pipe; on Python 3.11 ``Process.wait()``
then never returns, because it waits for the pipes to close too. Here the output goes to a
plain pipe that the process does not own: a reader keeps its first and last bytes and drops
the middle as it arrives, and at the time limit the process group is killed and the pipe
closed, so the call returns at once (``benchmarks/bench_commands.py`` measures it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass
from pathlib import Path


class OutputBuffer:
    """The first and last ``limit // 2`` bytes of a stream, and how many bytes it had."""

    def __init__(self, limit: int) -> None:
        self.half = max(limit, 0) // 2
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        room = self.half - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if not data or not self.half:
            return
        self.tail += data[-self.half :]
        if len(self.tail) > 2 * self.half:  # trim now and then, not on every chunk
            del self.tail[: -self.half]

    @property
    def dropped(self) -> int:
        return self.total - len(self.head) - min(len(self.tail), self.half)

    def text(self) -> str:
        """The kept output, saying how much of the middle was dropped."""
        tail = bytes(self.tail[-self.half :]) if self.half else b""
        head = self.head.decode("utf-8", "replace")
        if not self.dropped:
            return head + tail.decode("utf-8", "replace")
        note = (
            f"\n[output cut: {self.dropped:,} of {self.total:,} bytes dropped here; "
            f"the first and last {self.half:,} bytes are shown]\n"
        )
        return head + note + tail.decode("utf-8", "replace")


class _Reader(asyncio.Protocol):
    """Feeds a pipe into an :class:`OutputBuffer`; ``closed`` resolves when the pipe ends."""

    def __init__(self, buffer: OutputBuffer, closed: asyncio.Future[None]) -> None:
        self.buffer = buffer
        self.closed = closed

    def data_received(self, data: bytes) -> None:
        self.buffer.add(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


@dataclass(frozen=True)
class Finished:
    """How a command ended: its exit code (None when it was stopped at the time limit) and
    its output (stdout and stderr interleaved, bounded)."""

    exit_code: int | None
    output: str

    @property
    def timed_out(self) -> bool:
        return self.exit_code is None


async def run_bounded(
    argv: list[str], *, cwd: Path, timeout_s: float, output_bytes: int
) -> Finished:
    """Run ``argv`` in its own session (stdin empty) until it ends and its output is read,
    or until ``timeout_s``: then its whole process group is killed and what it printed so
    far is returned. At most ``output_bytes`` of the output are kept. Cancelling the call
    kills the process group too."""
    loop = asyncio.get_running_loop()
    read_fd, write_fd = os.pipe()
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=write_fd,
            stderr=write_fd,
            start_new_session=True,
        )
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)  # the child has its copy; the pipe ends when every writer is gone
    buffer = OutputBuffer(output_bytes)
    closed: asyncio.Future[None] = loop.create_future()
    transport, _ = await loop.connect_read_pipe(
        lambda: _Reader(buffer, closed), os.fdopen(read_fd, "rb", buffering=0)
    )
    finished = False
    try:
        async with asyncio.timeout(timeout_s):
            await process.wait()
            await closed  # the last output (and any child still writing) until the limit
        finished = True
    except TimeoutError:
        pass
    finally:
        if not finished:  # the time limit, or the call was cancelled
            kill_group(process.pid)
        transport.close()
        if process.returncode is None:
            with contextlib.suppress(asyncio.CancelledError):
                await process.wait()  # killed: it ends at once
    return Finished(process.returncode if finished else None, buffer.text())


def kill_group(pid: int) -> None:
    """SIGKILL the process group led by ``pid`` (gone already: nothing to do)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, 9)
