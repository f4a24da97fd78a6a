"""The media of a server's task, on this machine: each ``artifact_saved`` event of a task that
:class:`massgen.remote.RemoteRun` follows is fetched through the client
(``GET /v1/tasks/{id}/artifacts/{name}``, with the task's credentials) into this user's cache,
and handed on with ``path`` naming the copy here, so the app's cards and final-answer tiles
draw it and "open" opens it. No path from the server is used here: the copy is named from the
medium's name, cleaned, in a folder of the server and the task's (cleaned too), and the
event's ``workspace_path`` (the server's) is dropped.

A medium that cannot be fetched (the server no longer has it, too large, no answer in time,
the cache full) keeps its entry with no ``path`` (listed, not drawn), and an
``agent_notice`` says why in one line; the run goes on. Fetches start as each event is read
(a few at a time) while the stream is read on; the events are published in the server's
order, each ``artifact_saved`` once its file is here (:class:`MediaRelay`).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from massgen.events import AgentNotice, ArtifactSaved, Event, EventBus

if TYPE_CHECKING:
    from massgen.client import AsyncClient

#: A file larger than this is not fetched.
MAX_FILE_BYTES = 256 * 1024 * 1024
#: The cache at most: older tasks' media are removed to make room (never the current task's).
MAX_CACHE_BYTES = 1024 * 1024 * 1024
#: Seconds a fetch may take (the events after it wait for it).
FETCH_TIMEOUT_S = 120.0
#: Fetches at once.
PARALLEL = 4
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


class NotFetched(Exception):
    """Why a medium was not fetched, as the end of one line."""


def default_cache() -> Path:
    """``<user cache dir>/massgen/task-media`` (``$XDG_CACHE_HOME`` honoured)."""
    import platformdirs

    return platformdirs.user_cache_path("massgen") / "task-media"


def clean(text: str, limit: int = 120) -> str:
    """``text`` as one safe file name: letters, digits, ``.``, ``-``, ``_`` (others become
    ``_``), no leading dot, at most ``limit`` characters (the end, which has the suffix, kept)."""
    cleaned = _UNSAFE.sub("_", text).lstrip(".")
    return (cleaned[-limit:] if len(cleaned) > limit else cleaned).lstrip(".") or "_"


def folder_size(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*"):
        with contextlib.suppress(OSError):
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
    return total


class TaskMedia:
    """The media of the task ``task_id`` on the server at ``url``, fetched into ``cache``."""

    def __init__(self, client: AsyncClient, url: str, task_id: str, cache: Path) -> None:
        self.client, self.task_id, self.cache = client, task_id, cache
        self.folder = cache / clean(urlsplit(url).netloc or url) / clean(task_id)
        self.gate = asyncio.Semaphore(PARALLEL)
        self.room = asyncio.Lock()
        self.coming = 0  # bytes of the fetches under way

    async def fetch(self, event: ArtifactSaved) -> list[Event]:
        """``event`` naming the copy here; or naming none, then a notice of why."""
        from massgen.client import MassGenClientError

        here = replace(event, path="", workspace_path=None)
        try:
            async with self.gate, asyncio.timeout(FETCH_TIMEOUT_S):
                here.path = str(await self.copy(event))
            return [here]
        except NotFetched as exc:
            why = str(exc)
        except TimeoutError:
            why = f"no answer in {FETCH_TIMEOUT_S:.0f} s"
        except OSError as exc:
            why = f"cannot keep it here: {exc.strerror or exc}"
        except MassGenClientError as exc:
            status = f", HTTP {exc.status_code}" if exc.status_code else ""
            why = f"{exc.message or exc}{status}"
        message = f"{event.name}: not fetched from the server ({why}); listed without its file"
        notice = AgentNotice(agent_id=event.agent_id, turn=event.turn, ts=event.ts, message=message)
        return [here, notice]

    async def copy(self, event: ArtifactSaved) -> Path:
        """The medium's copy here: already in the cache (a task reopened), else fetched."""
        target = self.folder / clean(event.name)
        if await asyncio.to_thread(_kept, target, event.size):
            return target
        if event.size > MAX_FILE_BYTES:
            raise NotFetched(f"{event.size:,} bytes, over {MAX_FILE_BYTES:,}")
        async with self.room:
            await asyncio.to_thread(self.make_room, event.size + self.coming)
            self.coming += event.size
        limit = min(event.size, MAX_FILE_BYTES) if event.size > 0 else MAX_FILE_BYTES
        try:  # no more than the event said it is
            return await self.client.tasks.download_artifact(
                self.task_id, event.name, target, max_bytes=limit
            )
        finally:
            self.coming -= event.size

    def make_room(self, wanted: int) -> None:
        """The cache's folder for this task, with room for ``wanted`` more bytes: other
        tasks' folders removed, the least recently used first."""
        self.folder.mkdir(parents=True, exist_ok=True)
        others = [
            task
            for server in self.cache.iterdir()
            if server.is_dir() and not server.is_symlink()
            for task in server.iterdir()
            if task.is_dir() and not task.is_symlink() and task != self.folder
        ]
        sizes = {task: folder_size(task) for task in others}
        total = folder_size(self.folder) + sum(sizes.values())
        for task in sorted(others, key=_used):
            if total + wanted <= MAX_CACHE_BYTES:
                break
            shutil.rmtree(task, ignore_errors=True)
            total -= sizes[task]
        if total + wanted > MAX_CACHE_BYTES:
            raise NotFetched(f"the media cache {self.cache} is full ({MAX_CACHE_BYTES:,} bytes)")
        self.folder.touch()  # the task's folder: used now


def _used(folder: Path) -> float:
    """When ``folder`` was last used (0 when it is gone)."""
    try:
        return folder.stat().st_mtime
    except OSError:
        return 0.0


def _kept(target: Path, size: int) -> bool:
    """``target`` is a whole copy of a medium of ``size`` bytes."""
    try:
        return target.is_file() and not target.is_symlink() and target.stat().st_size == size
    except OSError:
        return False


class MediaRelay:
    """Events onto ``bus`` in the order given, each ``artifact_saved`` after its medium is
    fetched by ``media`` (fetches start at :meth:`put`, so they overlap the reading)."""

    def __init__(self, bus: EventBus, media: TaskMedia) -> None:
        self.bus, self.media = bus, media
        self.order: asyncio.Queue[Event | asyncio.Task[list[Event]] | None] = asyncio.Queue()
        self.fetches: set[asyncio.Task[list[Event]]] = set()
        self.publisher = asyncio.create_task(self._publish())

    def put(self, event: Event) -> None:
        if isinstance(event, ArtifactSaved):
            fetch = asyncio.create_task(self.media.fetch(event))
            self.fetches.add(fetch)
            fetch.add_done_callback(self.fetches.discard)
            self.order.put_nowait(fetch)
        else:
            self.order.put_nowait(event)

    async def finish(self) -> None:
        """Every event given, published (the media fetched or given up on)."""
        self.order.put_nowait(None)
        await self.publisher

    async def stop(self) -> None:
        """Stop publishing and fetching (the task is left, or its stream failed)."""
        pending = [self.publisher, *self.fetches]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _publish(self) -> None:
        while (item := await self.order.get()) is not None:
            events = await item if isinstance(item, asyncio.Task) else [item]
            for event in events:
                self.bus.publish(event, keep_time=True)
