"""Worker processes for a config's sync custom tools: a call that runs too long is stopped.

A sync function cannot be interrupted in a thread: a call past its time limit would go on,
and the interpreter waits for the thread before it exits. So the sync tools of a config's
``custom_tools`` entry run in worker processes (:mod:`massgen.tools.sync_worker`), each of
which imports the tools' file or module once and then serves one call at a time. A call that
times out or is cancelled kills its worker, with its process group (anything the function
started); idle workers are kept for the next call and stopped when the run ends
(:func:`massgen.tools.base.close_tools`). See docs/architecture.md, "Tools".
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import signal
import sys
import tempfile
from pathlib import Path
from typing import IO, Any

from massgen.tools.base import ToolError
from massgen.tools.sync_worker import HEADER, pack

WORKER_SCRIPT = Path(__file__).with_name("sync_worker.py")
#: Idle workers kept per pool; more would only hold memory.
MAX_IDLE = 4


class _Worker:
    """One worker process, bound to the event loop that started it."""

    def __init__(self, process: asyncio.subprocess.Process, stderr: IO[bytes]) -> None:
        self.process = process
        self.stderr = stderr
        self.loop = asyncio.get_running_loop()

    @property
    def usable(self) -> bool:
        """Alive, and on the running loop (a later run may have a loop of its own)."""
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            return False
        return self.process.returncode is None and current is self.loop

    async def call(self, request: bytes) -> tuple[Any, ...]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(request)
        await self.process.stdin.drain()
        (size,) = HEADER.unpack(await self.process.stdout.readexactly(HEADER.size))
        return pickle.loads(await self.process.stdout.readexactly(size))

    def kill(self) -> None:
        """Stop the worker and everything it started, at once."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def stderr_tail(self) -> str:
        with contextlib.suppress(OSError, ValueError):
            self.stderr.seek(0)
            lines = self.stderr.read().decode("utf-8", "replace").splitlines()
            return " | ".join(line.strip() for line in lines[-3:] if line.strip())[-300:]
        return ""

    async def reap(self) -> None:
        """Wait until the process is gone (on its own loop only) and close its stderr file."""
        if self.usable or self.process.returncode is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await self.process.wait()
        with contextlib.suppress(OSError):
            self.stderr.close()


class WorkerPool:
    """The workers of one ``custom_tools`` entry: ``source`` says where its functions are
    (``path`` and the module ``name`` it was loaded under, or ``module``)."""

    def __init__(self, *, path: str | None, name: str | None, module: str | None) -> None:
        self.source = {"path": path, "name": name, "module": module}
        self._idle: list[_Worker] = []
        self._stopping: set[_Worker] = set()

    async def call(self, tool: str, function: str, kwargs: dict[str, Any]) -> Any:
        """``function(**kwargs)`` in a worker: its return value, or a :class:`ToolError`
        saying what it raised. A timeout or a cancellation kills the worker."""
        try:
            request = pack((function, kwargs))
        except Exception as exc:
            raise ToolError(f"{tool}: its arguments cannot be sent to its process: {exc}") from None
        worker = await self._take()
        try:
            reply = await worker.call(request)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            with contextlib.suppress(TimeoutError):  # its exit status, if it comes soon
                async with asyncio.timeout(2):
                    await worker.process.wait()
            self._stop(worker)
            code = worker.process.returncode
            tail = worker.stderr_tail()
            raise ToolError(
                f"{tool}: its process ended during the call"
                + (f" (exit status {code})" if code is not None else f" ({exc})")
                + (f"; its stderr: {tail}" if tail else "")
            ) from None
        except BaseException:  # out of time, or cancelled: the function must not go on
            self._stop(worker)
            raise
        self._keep(worker)
        if reply[0] == "ok":
            return reply[1]
        _, kind, message = reply
        raise ToolError(f"{tool} failed: {kind}: {message or kind}")

    async def _take(self) -> _Worker:
        while self._idle:
            worker = self._idle.pop()
            if worker.usable:
                return worker
            self._stop(worker)
        stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed when the worker is reaped
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-P", str(WORKER_SCRIPT), str(os.getpid()),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=stderr,
            start_new_session=True,  # its own process group: killed with what it starts
        )  # fmt: skip
        worker = _Worker(process, stderr)
        assert process.stdin is not None
        process.stdin.write(pack({**self.source, "sys_path": list(sys.path)}))
        return worker

    def _keep(self, worker: _Worker) -> None:
        if len(self._idle) < MAX_IDLE:
            self._idle.append(worker)
        else:
            self._stop(worker)

    def _stop(self, worker: _Worker) -> None:
        worker.kill()
        self._stopping.add(worker)

    async def close(self) -> None:
        """Stop every idle worker (a later call starts a new one); calls in flight keep
        theirs, and stop it themselves."""
        idle, self._idle = self._idle, []
        for worker in idle:
            self._stop(worker)
        stopping, self._stopping = self._stopping, set()
        await asyncio.gather(*(worker.reap() for worker in stopping))
