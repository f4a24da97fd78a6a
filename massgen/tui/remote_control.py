"""The app's runs on a ``massgen serve``: each question sent as a task (follow-ups carry the
conversation as messages), or a task reopened by id, followed by a :class:`TaskServer` (the
CLI's :class:`massgen.remote.Server`) whose runs feed the same views a local run's do. ``q``
leaves the task running on the server; Ctrl+C cancels it. Part of
:class:`massgen.tui.app.MassGenApp` (docs/architecture.md, "The app as a client").

The app knows the server only through the two protocols here: the client reaches parts of
the server, which no view may import."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from massgen.tui.app_part import AppPart
from massgen.tui.chrome import PLACEHOLDERS
from massgen.tui.state import RunView
from massgen.tui.text import one_line

if TYPE_CHECKING:
    from textual.widgets import Input

    from massgen.events import Subscription

#: The input's placeholder while a server's task runs (notes reach local runs only).
REMOTE_RUNNING = (
    "A task on the server · Enter queues a follow-up · Ctrl+C cancels it · q leaves it running"
)


class RemoteTask(Protocol):
    """A task followed: its events on ``subscription``; ``state`` connecting, queued,
    running or ended; ``received`` events so far. ``result()`` has ``status``,
    ``final_answer`` and ``question``, or raises an exception whose text is one line."""

    subscription: Subscription
    task_id: str | None
    state: str
    received: int

    async def result(self) -> Any: ...
    async def detach(self) -> None: ...
    async def cancel_task(self) -> str: ...


class TaskServer(Protocol):
    """A server the app's questions go to as tasks."""

    @property
    def url(self) -> str: ...

    def follow(
        self,
        question: str | None = None,
        history: Sequence[tuple[str, str]] = (),
        *,
        task_id: str | None = None,
        timeout: float | None = None,
    ) -> RemoteTask: ...


class RemoteControl(AppPart):
    """Following tasks of a server (a part of the app)."""

    server: TaskServer | None
    attach_id: str | None
    task_timeout: float | None
    history: list[tuple[str, str]]
    clock: Callable[[], float]
    view: RunView
    parts: list[RunView]
    subscription: Subscription | None
    running: bool
    queued: str | None
    final_max: bool
    results: list[Any]
    last_status: str | None
    quit_mid_run: bool
    remote_run: RemoteTask | None = None  # the server's task followed (or last followed)
    #: the task ``q`` left running on the server (the CLI says how to reopen it)
    detached_from: str | None = None
    #: the server could not be used (unreachable, a refused key, an unknown task)
    remote_failure: Exception | None = None

    if TYPE_CHECKING:

        @property
        def ask(self) -> Input: ...  # the app's question box

    drain: Callable[[], None]  # run_control's: the last run's events into its view
    count_earlier_turns: Callable[[], None]  # the app's: the turns shown above this run
    start_run: Callable[[str], None]  # run_control's: starts, or queues during a run

    def start_remote(self, question: str | None, task_id: str | None = None) -> None:
        """Follow ``question`` as a new task (after this conversation's turns), or the
        task ``task_id``."""
        self.drain()
        self.view = RunView(clock=self.clock, recorded=True)  # times: the server's events'
        self.count_earlier_turns()
        self.parts.append(self.view)
        self.running, self.last_status, self.final_max = True, "running", False
        self.ask.placeholder = REMOTE_RUNNING
        self.run_worker(self.follow_remote(question, task_id), group="run", exclusive=True)

    async def follow_remote(self, question: str | None, task_id: str | None) -> None:
        assert self.server is not None
        run = self.server.follow(question, self.history, task_id=task_id, timeout=self.task_timeout)
        self.remote_run, self.subscription = run, run.subscription
        try:
            result = await run.result()
            self.results.append(result)
            self.last_status = result.status
            if result.final_answer is not None and (question or result.question):
                self.history.append((question or result.question, result.final_answer))
        except Exception as exc:  # the server's failure, one line (the CLI prints it)
            self.remote_failure, self.last_status = exc, "failed"
            if run.received == 0:  # nothing to show
                self.exit()
            else:
                self.notify(str(exc), severity="error", timeout=10)
        except BaseException:  # the app is closing: the task goes on on the server
            if run.state not in ("ended", "connecting") and run.task_id is not None:
                self.detached_from = run.task_id
            await run.detach()
            raise
        finally:
            self.running = False  # remote_run stays: the header still names its task
            if self.is_running:
                self.ask.placeholder = PLACEHOLDERS["follow-up"]
                if self.queued and not self.quit_mid_run:
                    next_question, self.queued = self.queued, None
                    self.call_later(self.start_run, next_question)

    def remote_label(self) -> str:
        """The header's: which server, which task, and where it is."""
        if self.server is None:
            return ""
        host = urlsplit(self.server.url).netloc or self.server.url
        run = self.remote_run
        if run is None:
            return f"server {host}"
        task = one_line(run.task_id or "", 40)
        state = {"connecting": "connecting", "queued": "queued"}.get(run.state, "")
        return " · ".join(part for part in (f"server {host}", task, state) if part)

    def cancel_remote(self) -> None:
        """Ctrl+C during a server's task: ask the server to cancel it (the stream shows the
        end)."""
        run = self.remote_run
        if run is None or not self.running:
            self.notify("Nothing to cancel. q quits.")
            return

        async def cancel() -> None:
            try:
                status = await run.cancel_task()
            except Exception as exc:  # the server's failure, one line
                self.notify(str(exc), severity="error", timeout=10)
                return
            self.notify(f"Task {run.task_id}: cancel sent ({status}).")

        self.notify("Cancelling the task on the server…")
        self.run_worker(cancel(), group="cancel")

    def leave_remote(self) -> None:
        """``q`` during a server's task: leave it running there and quit."""
        run = self.remote_run
        if run is not None and run.task_id is not None:
            self.detached_from = run.task_id
        self.exit()
