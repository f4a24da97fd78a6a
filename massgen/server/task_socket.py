"""``/v1/tasks/{id}/ws``: a task's events over a WebSocket, beside the SSE stream of
``/v1/tasks/{id}/events``: the same events (each message is the JSON of an SSE event's
``data``, with its ``id``), the same resume, the same credentials.

A client proves who it is with the same headers as any request (``Authorization: Bearer``,
``X-API-Key``); a browser, which cannot set them, sends them as its first message instead:
``{"token": "..."}`` (an API key or a JWT; never in the URL, where logs would keep it). It
resumes after an event with ``?last_event_id=N`` (or ``"last_event_id"`` in that first
message). The server closes the socket after the task's terminal event (1000); a refusal is
one close with code 4000 + the HTTP status it would have had (4400, 4401, 4404; 1011 when
the store is down) and a one-line reason (docs/architecture.md, "The server")."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from massgen.server.bearer import TokenRejected
from massgen.server.context import ServerContext
from massgen.server.schema import TERMINAL
from massgen.server.store import Store
from massgen.server.task_routes import MAX_EVENT_ID, event_data
from massgen.server.tasks import TaskRunner

log = logging.getLogger("massgen.server")

#: Seconds a client that sent no credentials in its headers has to send its first message.
FIRST_MESSAGE_TIMEOUT = 10.0
#: The longest first message read (credentials and an event id).
MAX_FIRST_MESSAGE = 16 * 1024
_EVENT_ID = re.compile(r"[0-9]{1,10}")


class Refused(Exception):
    """Close the socket with ``code`` and a one-line ``reason``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


def event_id(value: Any, where: str) -> int:
    """An event id to resume after (a whole number up to ``MAX_EVENT_ID``)."""
    raw = str(value).strip() if isinstance(value, int | str) else ""
    if isinstance(value, bool) or not _EVENT_ID.fullmatch(raw) or int(raw) > MAX_EVENT_ID:
        raise Refused(4400, f"{where} must be an event id: a whole number from 0 to {MAX_EVENT_ID}")
    return int(raw)


class TaskSocket:
    """The endpoint (see module), over the server's context and task runner."""

    def __init__(self, context: ServerContext, runner: TaskRunner) -> None:
        self.context, self.runner = context, runner

    def routes(self) -> list[WebSocketRoute]:
        return [WebSocketRoute("/v1/tasks/{task_id}/ws", self.serve)]

    async def serve(self, websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            await self._serve(websocket)
        except Refused as exc:
            with contextlib.suppress(Exception):
                await websocket.close(exc.code, exc.reason[:120])
        except WebSocketDisconnect:
            pass

    async def _first_message(self, websocket: WebSocket) -> dict[str, Any]:
        try:
            async with asyncio.timeout(FIRST_MESSAGE_TIMEOUT):
                text = await websocket.receive_text()
        except TimeoutError:
            raise Refused(4408, "no credentials: in a header or a first message") from None
        except KeyError:  # a binary frame
            raise Refused(4400, "the first message must be JSON text") from None
        try:
            message = json.loads(text) if len(text) <= MAX_FIRST_MESSAGE else None
        except ValueError:
            message = None
        if not isinstance(message, dict) or not isinstance(message.get("token", ""), str):
            raise Refused(
                4400, 'the first message must be a JSON object {"token": ..., "last_event_id"?}'
            )
        return message

    def _owner(self, headers: Any) -> str:
        try:
            owner = self.context.identify(headers)
        except TokenRejected as exc:
            raise Refused(4401, f"invalid bearer token: {exc}") from None
        if owner is None:
            raise Refused(4401, "invalid or missing API key")
        return owner

    async def _serve(self, websocket: WebSocket) -> None:
        query = websocket.query_params
        after = event_id(query.get("last_event_id", "0"), "last_event_id")
        headers = websocket.headers
        has_credentials = "authorization" in headers or "x-api-key" in headers
        if has_credentials or self.context.identify({}) is not None:
            owner = self._owner(headers)
        else:  # a browser's socket: credentials in the first message
            first = await self._first_message(websocket)
            owner = self._owner({"authorization": f"Bearer {first.get('token', '')}"})
            if "last_event_id" in first:
                after = event_id(first["last_event_id"], "last_event_id")
        task_id = websocket.path_params["task_id"]
        try:
            store = await self.context.require_store()
            row = await asyncio.to_thread(store.task, task_id, owner)
        except (OSError, SQLAlchemyError, ValueError) as exc:  # down, or keys that do not open
            log.warning("massgen: task store: %s", type(exc).__name__)
            raise Refused(1011, "the task store is unavailable; try again later") from None
        if row is None:
            raise Refused(4404, "no such task")
        pump = asyncio.create_task(self._pump(websocket, store, task_id, owner, after))
        listener = asyncio.create_task(_until_closed(websocket))
        try:
            await asyncio.wait({pump, listener}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (pump, listener):
                task.cancel()
            await asyncio.gather(pump, listener, return_exceptions=True)

    async def _pump(
        self, websocket: WebSocket, store: Store, task_id: str, owner: str, after: int
    ) -> None:
        """Send the task's events after ``after``, then close: 1000 after the terminal one."""
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            async for item in self.runner.events(task_id, after):
                if item.get("keepalive"):  # the protocol's own pings keep a socket open
                    continue
                data = await event_data(store, item, task_id, owner)
                await websocket.send_text(json.dumps({"id": item["seq"], **data}))
                if item["type"] in TERMINAL:
                    break
            await websocket.close(1000, "the task has ended")


async def _until_closed(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends until it closes the socket."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
