"""Work taken off the event loop: one thread per :class:`Writer`, running its jobs in order.

The server uses one for session logs (file writes) and one for the task store (database
writes), so a burst of runs never waits on the disk inside the loop, and each stream of
writes keeps its order.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

log = logging.getLogger("massgen.server")


class Writer:
    """A daemon thread running submitted calls one after the other."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._jobs: queue.SimpleQueue[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]]
        self._jobs = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """Run ``fn(*args)`` in the thread after every job submitted before it."""
        future: Future[Any] = Future()
        self._jobs.put((future, fn, args))
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                    self._thread.start()
        return future

    def _run(self) -> None:
        while True:
            future, fn, args = self._jobs.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as exc:
                future.set_exception(exc)

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every job submitted so far has run."""
        self.submit(lambda: None).result(timeout)


def coalesce(events: list[Any]) -> list[Any]:
    """``events`` with consecutive text deltas of the same agent turn (and tool call) merged
    into one, as the bus merges them for a slow subscriber: nothing is lost, only regrouped
    (the merged delta keeps the first one's ``seq`` and ``ts``)."""
    from massgen.events import DELTA_TYPES

    out: list[Any] = []
    for event in events:
        last = out[-1] if out else None
        if (
            last is not None
            and isinstance(event, DELTA_TYPES)
            and type(last) is type(event)
            and last.agent_id == event.agent_id
            and last.turn == event.turn
            and getattr(last, "call_id", None) == getattr(event, "call_id", None)
        ):
            out[-1] = type(event)(**{**vars(last), "text": last.text + event.text})
        else:
            out.append(event)
    return out


class SessionRelay:
    """Records a run's session through a :class:`~massgen.sessions.recorder.SessionRecorder`
    in a writer thread: the recorder attaches to this relay (as it would to the bus) in the
    thread, and the run's events are passed on there in batches (every
    :data:`BATCH_SECONDS`, and at the end), so the loop hands the thread one job per batch
    rather than one per event; each batch's deltas are merged (:func:`coalesce`) and its
    lines written to the event log at once (``SessionRecorder.batched``)."""

    BATCH_SECONDS = 0.05

    def __init__(self, recorder: Any, writer: Writer) -> None:
        self.recorder = recorder
        self.writer = writer
        self.callbacks: list[Callable[[Any], None]] = []
        self.pending: list[Any] = []
        self.timer: Any = None
        writer.submit(recorder.attach, self)

    def add_listener(self, callback: Callable[[Any], None]) -> None:  # called by attach()
        self.callbacks.append(callback)

    def _deliver(self, events: list[Any]) -> None:
        with self.recorder.batched():
            for event in coalesce(events):
                for callback in self.callbacks:
                    try:
                        callback(event)
                    except Exception as exc:
                        log.error("massgen: session log: %s: %s", type(exc).__name__, exc)

    def __call__(self, event: Any) -> None:  # a bus listener, on the event loop
        self.pending.append(event)
        if self.timer is None:
            import asyncio

            self.timer = asyncio.get_running_loop().call_later(self.BATCH_SECONDS, self.flush)

    def flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.pending:
            batch, self.pending = self.pending, []
            self.writer.submit(self._deliver, batch)

    def close(self) -> Future[Any]:
        self.flush()
        return self.writer.submit(self.recorder.close)
