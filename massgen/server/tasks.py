"""Background tasks: ``POST /v1/tasks`` queues a run in the store; every server process
sharing the store claims queued tasks (each exactly once), runs them, records their events
(for ``GET /v1/tasks/{id}/events``) and progress, and ends them with a chat.completion
result or an error, queueing their webhook deliveries in the same transaction.

After a crash (``kill -9``) nothing is lost: queued tasks run when a server is back; a task
that was *running* is marked ``failed`` with :data:`~massgen.server.schema.RESTARTED` (its
run cannot be resumed, and running it again could repeat its tools' side effects and its
cost without the client asking), as soon as a server sees its process gone (same host) or its
heartbeat older than the lease (another host).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Protocol

from massgen.runs import Prepared
from massgen.server.completions import NoAnswer
from massgen.server.http import BadRequest, parse_messages, request_images
from massgen.server.limiter import RunLimiter, Slot
from massgen.server.progress import Progress
from massgen.server.request_fields import RunOptions
from massgen.server.request_fields import apply as apply_options
from massgen.server.runs import MODEL_NAME, RunService
from massgen.server.schema import RESTARTED, TERMINAL, from_json, worker_id
from massgen.server.store import DeliveryRows, LazyStore, Store
from massgen.server.webhooks import Deliverer, deliveries_for, deliveries_on
from massgen.server.writer import Writer

log = logging.getLogger("massgen.server")

#: Engine events kept in a task's event log (token deltas of the agents' turns are not).
KEPT = frozenset(
    {
        "run_started",
        "agent_status",  # what each agent is doing: the app drawing a task shows it
        "agent_turn_started",
        "tool_call_started",
        "tool_call_finished",
        "answer_submitted",
        "vote_cast",
        "votes_cleared",
        "agent_restarted",
        "agent_cancelled",
        "agent_failed",
        "stream_retry",
        "round_finished",  # a debate's round (a judge's layer): its agreement, its groups
        "budget_exceeded",  # a call not started: it could cross a budget cap
        "usage",  # one per model call: a task's tokens and cost as they grow
        "artifact_saved",  # a generated medium: GET /v1/tasks/{id}/artifacts/{name} finds it here
        "winner_selected",
        "final_answer_delta",
        "final_answer",
        "error",
        "run_finished",
    }
)
#: Events written at once (others wait up to FLUSH_SECONDS, so deltas go in batches).
URGENT = frozenset(
    {"run_started", "answer_submitted", "vote_cast", "winner_selected", "final_answer"}
)
FLUSH_SECONDS = 0.1
STOPPED = "server stopped while the task was running; submit it again"


class TaskKind(Protocol):
    """A kind of task besides a chat completion (a stored request's ``kind``, e.g. a
    debate): the team it runs, and the webhook ``event`` its end also sends, whatever its
    status, with :meth:`view` of the task as the payload's data."""

    event: str

    def prepare(self, prepared: Prepared, request: dict[str, Any]) -> Prepared:
        """The team that runs ``request`` (raises ``BadRequest``)."""
        ...

    def view(self, row: dict[str, Any]) -> dict[str, Any]: ...


class _EventLog:
    """Buffers a running task's events and writes them in order through the store writer."""

    def __init__(self, runner: TaskRunner, task_id: str) -> None:
        self.runner, self.task_id = runner, task_id
        self.pending: list[tuple[str, dict[str, Any]]] = []
        self.progress = Progress()
        self.new_progress: int | None = None
        self.timer: asyncio.TimerHandle | None = None

    def add(self, event: dict[str, Any]) -> None:
        kind = str(event.get("type"))
        raised = self.progress.feed(event)
        if kind in KEPT:
            last = self.pending[-1] if self.pending else None
            if kind == "final_answer_delta" and last and last[0] == kind:
                last[1]["text"] += event.get("text") or ""
            else:
                self.pending.append((kind, {k: v for k, v in event.items() if k != "run_id"}))
        if raised is not None:
            self.pending.append(("progress", {"progress": raised}))
            self.new_progress = raised
        if kind in URGENT:
            self.flush()
        elif self.pending and self.timer is None:
            self.timer = asyncio.get_running_loop().call_later(FLUSH_SECONDS, self.flush)

    def take(self) -> list[tuple[str, dict[str, Any]]]:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        batch, self.pending = self.pending, []
        return batch

    def flush(self) -> None:
        batch, progress = self.take(), self.new_progress
        self.new_progress = None
        if batch or progress is not None:
            self.runner.write(self.runner.store.add_events, self.task_id, batch, progress)


class TaskRunner:
    """Claims and runs tasks in this process (each under ``limiter``, through ``runs``);
    also heartbeats, reaps orphans and sends webhook deliveries (see module).

    ``task_view`` is the API's view of a task (its webhooks' payloads carry it);
    ``deliverer`` builds the webhook deliverer once ``store`` is open; ``redact`` masks
    secrets in a task's error; ``kinds``: the tasks besides chat completions it runs."""

    def __init__(
        self,
        store: LazyStore,
        runs: RunService,
        limiter: RunLimiter,
        *,
        task_view: Callable[[dict[str, Any]], dict[str, Any]],
        deliverer: Callable[[Store], Deliverer] | None = None,
        redact: Callable[[str], str] = lambda text: text,
        poll: float = 0.5,
        lease: float = 30.0,
        heartbeat: float = 2.0,
        kinds: Mapping[str, TaskKind] | None = None,
    ) -> None:
        self.lazy_store, self.runs, self.limiter = store, runs, limiter
        self.kinds = dict(kinds or {})
        self.task_view = task_view
        self.make_deliverer = deliverer
        self.redact = redact
        self.poll, self.lease, self.heartbeat_every = poll, lease, heartbeat
        self.worker = worker_id()
        self.writer = Writer("massgen-task-store")
        self.running: dict[str, asyncio.Task[None]] = {}
        self.slots: dict[str, Slot] = {}  # each running task's place under the run limit
        self.stop_reason: dict[str, str] = {}
        self.wake = asyncio.Event()
        self.changed: dict[str, set[asyncio.Event]] = {}
        self.loops: list[asyncio.Task[Any]] = []
        self.deliverer: Deliverer | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    @property
    def store(self) -> Store:
        store = self.lazy_store.current
        assert store is not None
        return store

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start claiming tasks, and sending webhook deliveries once the store is open
        (idempotent: called again when a request opened the store)."""
        if not self.loops:
            self.loop = asyncio.get_running_loop()
            self.loops = [
                asyncio.create_task(self._dispatch(), name="massgen-tasks"),
                asyncio.create_task(self._watch(), name="massgen-task-heartbeat"),
            ]
        store = self.lazy_store.current
        if self.deliverer is None and store is not None and self.make_deliverer is not None:
            self.deliverer = self.make_deliverer(store)
            self.loops.append(asyncio.create_task(self.deliverer.run(), name="massgen-webhooks"))

    async def stop(self) -> None:
        """Stop claiming tasks, then stop the running ones (each failed: :data:`STOPPED`),
        then the other loops; queued tasks stay queued for the next start."""
        dispatcher, others = self.loops[:1], self.loops[1:]
        await _cancel(dispatcher)
        for task_id in list(self.running):
            self.stop_reason[task_id] = "stopped"
        await _cancel(list(self.running.values()))
        await _cancel(others)
        self.loops = []
        await asyncio.to_thread(self.writer.flush, 10)

    def write(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
        """Run a store call in the writer thread (in order); tell event streams after."""
        task_id = args[0] if args and isinstance(args[0], str) else None

        def job() -> Any:
            result = fn(*args, **kwargs)
            if task_id is not None and self.loop is not None:
                with contextlib.suppress(RuntimeError):
                    self.loop.call_soon_threadsafe(self.notify, task_id)
            return result

        return asyncio.wrap_future(self.writer.submit(job))

    def notify(self, task_id: str) -> None:
        for event in self.changed.get(task_id, ()):
            event.set()

    # ------------------------------------------------------------------ loops

    async def _dispatch(self) -> None:
        failing = False
        while True:
            try:
                opened = self.lazy_store.current is not None or await asyncio.to_thread(
                    self.lazy_store.open, False
                )
                if not opened:
                    await asyncio.sleep(1.0)
                    continue
                while (slot := self.limiter.try_acquire()) is not None:
                    row = None
                    try:
                        row = await asyncio.to_thread(self.store.claim, self.worker)
                    finally:
                        if row is None:  # nothing queued, or the store failed
                            slot.release(ran=False)
                    if row is None:
                        break
                    self.notify(row["id"])
                    task = asyncio.create_task(self._execute(row))
                    self.running[row["id"]] = task
                    self.slots[row["id"]] = slot
                    task.add_done_callback(self._when_done(row["id"]))
                failing = False
            except Exception as exc:  # the store is down: say so once, retry slowly
                if not failing:
                    log.warning("massgen: task store unavailable (%s)", type(exc).__name__)
                failing = True
                await asyncio.sleep(5.0)
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll):  # wait_for could swallow a cancel
                    await self.wake.wait()

    def _when_done(self, task_id: str) -> Callable[[asyncio.Task[None]], None]:
        return lambda _: self._done(task_id)

    def _done(self, task_id: str) -> None:
        self.running.pop(task_id, None)
        self.stop_reason.pop(task_id, None)
        slot = self.slots.pop(task_id, None)
        if slot is not None:
            slot.release()
        self.wake.set()

    async def _watch(self) -> None:
        """Heartbeats this process's running tasks, honours cancels requested through
        another process, and fails the orphans of dead workers."""
        while True:
            try:
                if self.lazy_store.current is not None:
                    await self._watch_once()
            except Exception as exc:
                log.debug("massgen: task heartbeat: %s", type(exc).__name__)
            await asyncio.sleep(self.heartbeat_every)

    async def _watch_once(self) -> None:
        store = self.store
        cancelled = await asyncio.to_thread(store.heartbeat, self.worker, list(self.running))
        for task_id in cancelled:
            self.cancel_local(task_id)
        for orphan in await asyncio.to_thread(store.orphans, self.lease):
            if orphan["id"] in self.running:
                continue
            row = await self.write(
                store.finish,
                orphan["id"],
                "failed",
                error=RESTARTED,
                worker=orphan["worker"],
                deliver=self.deliveries("failed"),
            )
            if row is not None:
                log.warning("massgen: task %s failed: its server stopped", orphan["id"])
                self.wake_deliveries()

    def cancel_local(self, task_id: str) -> bool:
        task = self.running.get(task_id)
        if task is None:
            return False
        self.stop_reason.setdefault(task_id, "cancelled")
        task.cancel()
        return True

    def deliveries(self, status: str) -> DeliveryRows:
        """The webhook deliveries of a task ending with ``status``: ``task.<status>``, and
        its kind's own event (``debate.finished``), in the same transaction."""
        tasks = deliveries_on(status, self.task_view)

        def build(row: dict[str, Any], registered: list[dict[str, Any]]) -> list[dict[str, Any]]:
            rows = tasks(row, registered)
            request = from_json(row.get("request")) or {}
            kind = self.kinds.get(str(request.get("kind")))
            if kind is not None:
                rows += deliveries_for(kind.event, row, registered, kind.view(row))
            return rows

        return build

    def wake_deliveries(self) -> None:
        """Send the deliveries just queued now, not at the next poll."""
        if self.deliverer is not None:
            self.deliverer.wake.set()

    async def cancel_queued(self, task_id: str) -> None:
        """Cancel a task that is still queued (a no-op once it was claimed)."""
        await self.write(
            self.store.finish,
            task_id,
            "cancelled",
            from_status=("queued",),
            deliver=self.deliveries("cancelled"),
        )
        self.wake_deliveries()

    # ------------------------------------------------------------------ one task

    async def _execute(self, row: dict[str, Any]) -> None:
        task_id = row["id"]
        request = json.loads(row["request"])
        log_ = _EventLog(self, task_id)
        status, result, error = "failed", None, None
        try:
            try:
                question, history = parse_messages(request.get("messages"))
                images = request_images(request.get("messages"))
                options = RunOptions.from_stored(request.get("options"))
                prepared = apply_options(self.runs.resolve(request.get("model")), options)
                if request.get("kind") is not None:
                    kind = self.kinds.get(str(request["kind"]))
                    if kind is None:
                        raise _TaskError(f"this server runs no {request['kind']!r} tasks")
                    prepared = kind.prepare(prepared, request)
            except BadRequest as exc:
                raise _TaskError(exc.message) from None
            timeout = request.get("timeout")
            try:
                async with asyncio.timeout(timeout):
                    outcome = await self.runs.complete(
                        prepared, question, history, images, on_event=log_.add
                    )
            except TimeoutError:
                raise _TaskError(f"the task timed out after {timeout:g}s") from None
            if isinstance(outcome, NoAnswer):
                raise _TaskError(outcome.message)
            status = "completed"
            result = outcome.object(
                f"chatcmpl-{uuid.uuid4().hex}", request.get("model_name") or MODEL_NAME
            )
            if "massgen_artifacts" in result:  # links to the files, under the task
                prefix = f"/v1/tasks/{task_id}/artifacts/"
                result["massgen_artifacts"] = outcome.artifacts(prefix)
        except _TaskError as exc:
            error = str(exc)
        except asyncio.CancelledError:
            reason = self.stop_reason.get(task_id, "stopped")
            status, error = ("cancelled", None) if reason == "cancelled" else ("failed", STOPPED)
        except Exception as exc:
            log.error("massgen: task %s: %s: %s", task_id, type(exc).__name__, exc)
            error = f"internal error ({type(exc).__name__})"
        if error:
            error = self.redact(error)
        await asyncio.shield(
            self.write(
                self.store.finish,
                task_id,
                status,
                result=result,
                error=error,
                events=log_.take(),
                worker=self.worker,
                deliver=self.deliveries(status),
            )
        )
        self.wake_deliveries()

    # ------------------------------------------------------------------ API helpers

    async def events(self, task_id: str, after: int) -> AsyncIterator[dict[str, Any]]:
        """The task's stored events after ``after``, then new ones as they are written,
        until its terminal event."""
        changed = asyncio.Event()
        self.changed.setdefault(task_id, set()).add(changed)
        try:
            idle = 0.0
            while True:
                changed.clear()
                rows = await asyncio.to_thread(self.store.events, task_id, after)
                for row in rows:
                    after = row["seq"]
                    yield row
                    if row["type"] in TERMINAL:
                        return
                if rows:
                    idle = 0.0
                    continue
                started = time.monotonic()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), self.poll * 2)
                idle += time.monotonic() - started
                if idle >= 15.0:
                    idle = 0.0
                    yield {"keepalive": True}
        finally:
            watchers = self.changed.get(task_id, set())
            watchers.discard(changed)
            if not watchers:
                self.changed.pop(task_id, None)


class _TaskError(Exception):
    pass


async def _cancel(tasks: list[asyncio.Task[Any]]) -> None:
    """Cancel ``tasks`` and wait until they end, cancelling again any that went on: Python
    3.11's ``asyncio.wait_for`` swallows a cancel that arrives as its wait ends."""
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.1)
