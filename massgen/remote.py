"""A run on a ``massgen serve``: the question sent as a task (or a task attached to by id)
through :mod:`massgen.client`, and the task's event stream (resumed where it broke) published
on a local :class:`~massgen.events.EventBus`, so the views that draw a local run — the app,
the plain and JSON printers — draw it unchanged (docs/architecture.md, "The app as a client");
the media its agents make are fetched here on the way, each ``artifact_saved`` then naming the
copy here (:mod:`massgen.remote_media`).
It sits above the front ends (the client reaches the server's signing code): the CLI hands a
:class:`Server` to the app, which knows it only as :class:`massgen.tui.remote_control.TaskServer`.

A :class:`RemoteRun` has the face of :class:`massgen.runs.ActiveRun` that views use: a
``subscription`` and ``result()``. Leaving it (:meth:`RemoteRun.detach`) stops reading; the
task goes on on the server. :meth:`RemoteRun.cancel_task` asks the server to cancel it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from massgen.errors import ConfigurationError
from massgen.events import ErrorEvent, EventBus, RunFinished
from massgen.exitcodes import ExitCode
from massgen.remote_media import MediaRelay, TaskMedia, default_cache
from massgen.sessions.replay import to_event

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from massgen.client import AsyncClient
    from massgen.client.types import TaskEvent

#: Where ``--server`` and ``--api-key`` default from.
SERVER_VARIABLE = "MASSGEN_SERVER_URL"
KEY_VARIABLE = "MASSGEN_API_KEY"
#: ``massgen attach`` with no server named and no ``$MASSGEN_SERVER_URL``: massgen serve's
#: own default address.
LOCAL_SERVER = "http://localhost:4000"
#: A task's terminal states, and the run status each means when no ``run_finished`` says.
TASK_END = {"completed": "ok", "failed": "failed", "cancelled": "cancelled"}
#: How the server words a task that ran past its ``timeout`` (server/tasks.py).
TIMED_OUT = "the task timed out"
#: Seconds to wait for the next byte of the event stream (the server sends a keep-alive
#: every 15 s while a task is quiet).
READ_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Server:
    """A ``massgen serve`` to run on: its URL and the API key to send; ``media_dir``: where
    its tasks' media are fetched to (default: :func:`massgen.remote_media.default_cache`)."""

    url: str
    api_key: str | None = None
    media_dir: Path | None = None

    @classmethod
    def named(cls, url: str | None, api_key: str | None, *, fallback: str | None = None) -> Server:
        """``url`` (else ``$MASSGEN_SERVER_URL``, else ``fallback``) and ``api_key`` (else
        ``$MASSGEN_API_KEY``); a URL that is not http(s) is a :class:`ConfigurationError`."""
        chosen = (url or os.environ.get(SERVER_VARIABLE) or fallback or "").strip()
        if not chosen.startswith(("http://", "https://")) or len(chosen) <= len("https://"):
            raise ConfigurationError(
                f"--server: not an http(s) URL: {chosen!r} (e.g. http://host:4000)"
            )
        key = api_key if api_key is not None else os.environ.get(KEY_VARIABLE)
        return cls(chosen.rstrip("/"), key or None)

    def follow(
        self,
        question: str | None = None,
        history: Sequence[tuple[str, str]] = (),
        *,
        task_id: str | None = None,
        timeout: float | None = None,
        on_task: Callable[[str], None] | None = None,
    ) -> RemoteRun:
        """``question`` (after the turns ``history``) as a new task, or the task
        ``task_id``, followed (see :class:`RemoteRun`)."""
        messages = None if question is None else conversation(history, question)
        return RemoteRun(self, messages=messages, task_id=task_id, timeout=timeout, on_task=on_task)

    @staticmethod
    def chosen(url: str | None) -> bool:
        """Whether a run goes to a server: ``--server`` given, or ``$MASSGEN_SERVER_URL``."""
        return bool(url or os.environ.get(SERVER_VARIABLE))

    def client(self) -> AsyncClient:
        import httpx

        from massgen.client import AsyncClient

        timeout = httpx.Timeout(30.0, read=READ_TIMEOUT_S)
        return AsyncClient(api_key=self.api_key or "", base_url=self.url, timeout=timeout)


class RemoteFailure(Exception):
    """What went wrong talking to the server, as one line, and the exit code it means."""

    def __init__(self, message: str, code: ExitCode) -> None:
        super().__init__(message)
        self.message, self.code = message, code


def explain(exc: Exception, server: Server, task_id: str | None) -> RemoteFailure:
    """``exc`` (a :mod:`massgen.client.exceptions` error) as one line for the user."""
    from massgen.client import (
        AuthenticationError,
        NetworkError,
        NotFoundError,
        RateLimitError,
        ValidationError,
    )

    message = getattr(exc, "message", None) or str(exc)
    if isinstance(exc, AuthenticationError):
        how = "a wrong API key" if server.api_key else "no API key"
        return RemoteFailure(
            f"the server at {server.url} refused {how} (HTTP {exc.status_code}): give its key "
            f"with --api-key or ${KEY_VARIABLE}",
            ExitCode.USAGE,
        )
    if isinstance(exc, NotFoundError):
        what = f"no task {task_id}" if task_id else "no task API (is it massgen serve?)"
        return RemoteFailure(
            f"the server at {server.url} has {what} for this API key", ExitCode.USAGE
        )
    if isinstance(exc, NetworkError):
        if task_id:
            return RemoteFailure(
                f"lost the server at {server.url} ({message}); task {task_id} may still be "
                f"running there: massgen attach {task_id} --server {server.url}",
                ExitCode.RUN_FAILED,
            )
        return RemoteFailure(
            f"cannot reach the server at {server.url}: {message}", ExitCode.RUN_FAILED
        )
    if isinstance(exc, RateLimitError):
        return RemoteFailure(f"the server at {server.url} is busy: {message}", ExitCode.RUN_FAILED)
    if isinstance(exc, ValidationError):
        return RemoteFailure(
            f"the server at {server.url} refused the task: {message}", ExitCode.USAGE
        )
    return RemoteFailure(f"the server at {server.url} failed: {message}", ExitCode.RUN_FAILED)


@dataclass
class RemoteResult:
    """How a task's run ended: ``status`` as a local run's (ok, timeout, budget, failed,
    cancelled), the final answer, the task's error."""

    task_id: str
    question: str
    status: str
    final_answer: str | None
    error: str | None = None


def conversation(history: Sequence[tuple[str, str]], question: str) -> list[dict[str, str]]:
    """The chat messages of ``question`` after the earlier turns ``history``."""
    messages: list[dict[str, str]] = []
    for asked, answered in history:
        messages += [{"role": "user", "content": asked}, {"role": "assistant", "content": answered}]
    return [*messages, {"role": "user", "content": question}]


def _output(task: Any) -> str | None:
    """A finished task's final answer, from its chat.completion result."""
    result = getattr(task, "result", None)
    if not isinstance(result, dict):
        return None
    try:
        return str(result["choices"][0]["message"]["content"])
    except (TypeError, KeyError, IndexError):
        return None


class RemoteRun:
    """The task of ``messages`` created on ``server`` (or the task ``task_id``), followed:
    its events from the first, then live, on :attr:`bus` (must be made inside a running
    event loop). ``on_task`` is called with the task id once it is known; ``timeout`` is
    the task's (seconds)."""

    def __init__(
        self,
        server: Server,
        *,
        messages: list[dict[str, Any]] | None = None,
        task_id: str | None = None,
        timeout: float | None = None,
        on_task: Callable[[str], None] | None = None,
    ) -> None:
        if (messages is None) == (task_id is None):
            raise ValueError("a RemoteRun takes messages (a new task) or a task_id")
        self.server, self.messages, self.task_id = server, messages, task_id
        self.timeout, self.on_task = timeout, on_task
        self.bus = EventBus()
        self.subscription = self.bus.subscribe()
        self.state = "connecting"  # then queued, running, ended (the task's, as last seen)
        self.received = 0  # events read from the server
        self.question = ""
        self.client: AsyncClient | None = None
        self.follow = asyncio.create_task(self._follow())

    async def result(self) -> RemoteResult:
        """How the task ended; a :class:`RemoteFailure` if the server could not say."""
        return await asyncio.shield(self.follow)

    async def detach(self) -> None:
        """Stop reading the task (it goes on on the server)."""
        self.follow.cancel()
        with contextlib.suppress(asyncio.CancelledError, RemoteFailure):
            await self.follow

    async def cancel_task(self) -> str:
        """Ask the server to cancel the task; what it says (the stream shows the end)."""
        if self.task_id is None or self.client is None:
            return "no task yet"
        try:
            task = await self.client.tasks.cancel(self.task_id)
        except Exception as exc:
            raise explain(exc, self.server, self.task_id) from None
        return task.status

    async def _follow(self) -> RemoteResult:
        from massgen.client import MassGenClientError

        self.client = client = self.server.client()
        try:
            if self.task_id is None:
                task = await client.tasks.create(self.messages, timeout=self.timeout)
                self.task_id, self.state = task.id, task.status
                if self.on_task is not None:
                    self.on_task(task.id)
            return await self._read(client, self.task_id)
        except MassGenClientError as exc:
            raise explain(exc, self.server, self.task_id) from None
        finally:
            self.state = "ended"
            self.bus.close()
            await client.close()

    async def _read(self, client: AsyncClient, task_id: str) -> RemoteResult:
        """The task's events onto the bus, its media fetched here on the way
        (:mod:`massgen.remote_media`)."""
        finished: RunFinished | None = None
        end: TaskEvent | None = None
        cache = self.server.media_dir or default_cache()
        relay = MediaRelay(self.bus, TaskMedia(client, self.server.url, task_id, cache))
        try:
            async for item in client.tasks.stream_events(task_id):
                self.received += 1
                if item.type in ("queued", "running"):
                    self.state = item.type
                    continue
                if item.type in TASK_END:
                    end = item
                    break
                event = to_event(dict(item.data))
                if event is None:  # progress, and anything this version does not know
                    continue
                if item.type == "run_started":
                    self.state, self.question = "running", str(item.data.get("question") or "")
                if isinstance(event, RunFinished):
                    finished = event
                relay.put(event)
        except Exception:
            await relay.finish()  # the events read before the stream failed are still shown
            raise
        else:
            await relay.finish()
        finally:
            await relay.stop()
        return self._ended(task_id, finished, end)

    def _ended(
        self, task_id: str, finished: RunFinished | None, end: TaskEvent | None
    ) -> RemoteResult:
        task = end.task if end is not None else None
        error = (end.error if end is not None else None) or None
        status = finished.status if finished is not None else "failed"
        if end is not None and (finished is None or end.type != "completed"):
            status = TASK_END[end.type]
            if error and error.startswith(TIMED_OUT):
                status = "timeout"
        answer = finished.final_answer if finished is not None else None
        answer = answer or _output(task)
        if error:
            self.bus.publish(ErrorEvent(message=error))
        if finished is None or finished.status != status:  # the views end with the task
            started, ended = getattr(task, "started_at", None), getattr(task, "finished_at", None)
            took = float(ended - started) if started and ended else 0.0
            self.bus.publish(RunFinished(status=status, duration_s=took, final_answer=answer))
        return RemoteResult(task_id, self.question, status, answer, error)
