"""``GET /v1/tasks/{task_id}/artifacts/{name}``: a medium a task's agents generated, to the
task's owner (the same credentials as the task's other routes).

The file is found through the task's own ``artifact_saved`` events (the name a client got in
the task's ``result.massgen_artifacts``), never from a path in the request; it is sent with the
type recorded when it was saved and ``X-Content-Type-Options: nosniff``.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from massgen.server.context import ServerContext
from massgen.server.http import error_response

NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199}$")
#: Events read per page while looking for the artifact.
PAGE = 500


class ArtifactRoutes:
    """The route (see module)."""

    def __init__(self, context: ServerContext) -> None:
        self.context = context

    def routes(self) -> list[Route]:
        guarded = self.context.guarded
        path = "/v1/tasks/{task_id}/artifacts/{name}"
        return [Route(path, guarded(self.get), methods=["GET"])]

    async def get(self, request: Request, owner: str) -> Response:
        task_id, name = request.path_params["task_id"], request.path_params["name"]
        if not NAME.match(name) or ".." in name:
            return error_response(
                400,
                "name: an artifact's name from the task's result (letters, digits, '.', '-', '_')",
                "invalid_request_error",
                "invalid_name",
            )
        store = await self.context.require_store()
        if await asyncio.to_thread(store.task, task_id, owner) is None:
            return _missing("task")
        saved = await asyncio.to_thread(_saved, store, task_id, name)
        if saved is None:
            return _missing("artifact")
        path = Path(str(saved.get("path")))
        if path.name != name or not await asyncio.to_thread(path.is_file):
            return _missing("artifact")
        mime = str(saved.get("mime") or "application/octet-stream")
        headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private"}
        return FileResponse(path, media_type=mime, headers=headers)


def _saved(store: Any, task_id: str, name: str) -> dict[str, Any] | None:
    """The ``artifact_saved`` event of ``name`` among the task's events."""
    after = 0
    while True:
        events = store.events(task_id, after, PAGE)
        for event in events:
            if event["type"] == "artifact_saved" and event["data"].get("name") == name:
                data: dict[str, Any] = event["data"]
                return data
        if len(events) < PAGE:
            return None
        after = events[-1]["seq"]


def _missing(what: str) -> Response:
    return error_response(404, f"no such {what}", "invalid_request_error", "not_found")
