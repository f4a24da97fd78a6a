"""The task and webhook endpoints: ``/v1/tasks`` (submit, list, get, events, cancel,
deliveries) and ``/v1/webhooks`` (register, list, delete). Each API key sees only its own
tasks and webhooks: another key's id answers 404, as an unknown one does. A task is shown
as :func:`public_task` (in its webhooks' payloads too)."""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from massgen.server.context import ServerContext
from massgen.server.http import (
    BadRequest,
    SSEResponse,
    error_response,
    parse_messages,
    without_surrogates,
)
from massgen.server.metrics import Metrics
from massgen.server.request_fields import apply as apply_options
from massgen.server.request_fields import check_fields, run_options
from massgen.server.runs import MODEL_NAME, RunService
from massgen.server.schema import PRIORITIES, STATUSES, TERMINAL, from_json, priority_name
from massgen.server.store import Store
from massgen.server.tasks import TaskRunner
from massgen.server.webhooks import (
    TargetRefused,
    resolve_target,
    validate_events,
    validate_fields,
    validate_headers,
    validate_secret,
)
from massgen.terminal import clean_text

#: The longest ``timeout`` a task may ask for, in seconds.
MAX_TASK_TIMEOUT = 24 * 3600
MAX_METADATA_BYTES = 16 * 1024
MAX_LIST = 100
#: The largest event id a store can hold (a 32-bit integer column on PostgreSQL; a task's
#: events are numbered from 1, so no real id comes near it).
MAX_EVENT_ID = 2**31 - 1
_EVENT_ID = re.compile(r"[0-9]{1,10}")


def public_task(row: dict[str, Any], with_result: bool = True) -> dict[str, Any]:
    """A task as the API shows it (never its webhook's secret)."""
    hook = from_json(row.get("webhook"))
    out = {
        "id": row["id"],
        "object": "task",
        "status": row["status"],
        "priority": priority_name(row.get("priority")),
        "progress": int(row.get("progress") or 0),
        "created_at": row["created_at"],
        "started_at": row.get("started_at"),
        "finished_at": row.get("finished_at"),
        "result": from_json(row.get("result")) if with_result else None,
        "error": row.get("error"),
        "metadata": from_json(row.get("meta")),
        "webhook": {"url": hook["url"], "events": hook["events"]} if hook else None,
    }
    if row.get("cancel_requested") and row["status"] == "running":
        out["cancel_requested"] = True
    return out


async def event_data(
    store: Store, item: dict[str, Any], task_id: str, owner: str
) -> dict[str, Any]:
    """A stored task event as the API sends it (SSE's ``data``, a WebSocket message): its
    type, seq, time and fields; a terminal one carries the task (:func:`public_task`)."""
    data = {"type": item["type"], "seq": item["seq"], "ts": item["ts"], "task_id": task_id}
    data.update(item["data"])
    if item["type"] in TERMINAL:
        done = await asyncio.to_thread(store.task, task_id, owner)
        if done is not None:
            data["task"] = public_task(done)
    return data


def _not_found(what: str = "task") -> Response:
    return error_response(404, f"no such {what}", "invalid_request_error", "not_found")


def _timeout(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadRequest(400, "timeout must be a number of seconds", code="invalid_timeout")
    if not 1 <= value <= MAX_TASK_TIMEOUT:
        raise BadRequest(
            400, f"timeout must be between 1 and {MAX_TASK_TIMEOUT} seconds", code="invalid_timeout"
        )
    return float(value)


def _priority(value: Any) -> int:
    """A task's stored priority: ``"low"``, ``"normal"`` (the default) or ``"high"``."""
    if value is None:
        return PRIORITIES["normal"]
    if not isinstance(value, str) or value not in PRIORITIES:
        raise BadRequest(
            400,
            f"priority must be one of {', '.join(PRIORITIES)}",
            code="invalid_priority",
            param="priority",
        )
    return PRIORITIES[value]


def _metadata(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadRequest(400, "metadata must be an object", code="invalid_metadata")
    if len(json.dumps(value)) > MAX_METADATA_BYTES:
        raise BadRequest(
            400, f"metadata is larger than {MAX_METADATA_BYTES} bytes", code="invalid_metadata"
        )
    return value


def _last_event_id(request: Request) -> int:
    """The event to resume after: ``Last-Event-ID``, else ``?after=``, else 0 (the start).
    An event id is what the store keeps: a whole number up to :data:`MAX_EVENT_ID`."""
    raw = request.headers.get("last-event-id") or request.query_params.get("after") or "0"
    raw = raw.strip()
    if not _EVENT_ID.fullmatch(raw) or int(raw) > MAX_EVENT_ID:
        raise BadRequest(
            400,
            f"Last-Event-ID (or after) must be an event id: a whole number from 0 to "
            f"{MAX_EVENT_ID}",
            code="invalid_event_id",
        )
    return int(raw)


def _public_delivery(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "event": row["event"],
        "url": row["url"],
        "webhook_id": row["webhook_id"],
        "status": row["status"],
        "attempts": [
            {
                "attempt": a["attempt"],
                "started_at": a["started_at"],
                "duration": a["duration"],
                "status_code": a["status_code"],
                "error": a["error"],
                "next_attempt_at": a["next_attempt_at"],
            }
            for a in row["attempt_log"]
        ],
        "created_at": row["created_at"],
        "finished_at": row["finished_at"],
    }


def _public_webhook(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "object": "webhook",
        "url": row["url"],
        "events": json.loads(row["events"]),
        "created_at": row["created_at"],
    }


class TaskRoutes:
    """The endpoints (see module), over the services they use."""

    def __init__(
        self, context: ServerContext, runs: RunService, runner: TaskRunner, metrics: Metrics
    ) -> None:
        self.context, self.runs, self.runner, self.metrics = context, runs, runner, metrics

    def routes(self) -> list[Route]:
        guarded = self.context.guarded
        return [
            Route("/v1/tasks", guarded(self.submit), methods=["POST"]),
            Route("/v1/tasks", guarded(self.listing), methods=["GET"]),
            Route("/v1/tasks/{task_id}", guarded(self.get), methods=["GET"]),
            Route("/v1/tasks/{task_id}/events", guarded(self.events), methods=["GET"]),
            Route("/v1/tasks/{task_id}/cancel", guarded(self.cancel), methods=["POST"]),
            Route("/v1/tasks/{task_id}/deliveries", guarded(self.deliveries), methods=["GET"]),
            Route("/v1/webhooks", guarded(self.create_webhook), methods=["POST"]),
            Route("/v1/webhooks", guarded(self.list_webhooks), methods=["GET"]),
            Route("/v1/webhooks/{webhook_id}", guarded(self.delete_webhook), methods=["DELETE"]),
        ]

    async def _webhook(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise BadRequest(
                400,
                "webhook must be an object {url, secret, events?, headers?}",
                code="invalid_webhook",
            )
        context = self.context
        try:
            validate_fields(value)
            events = validate_events(value.get("events"))
            secret = validate_secret(value.get("secret"))
            headers = validate_headers(value.get("headers"))
            await resolve_target(value.get("url"), context.webhook_allow, context.webhook_resolver)
        except TargetRefused as exc:
            raise BadRequest(400, str(exc), code="webhook_refused") from None
        except ValueError as exc:
            raise BadRequest(400, str(exc), code="invalid_webhook") from None
        if not context.store.sealer.enabled:  # secrets are only ever stored encrypted
            raise BadRequest(
                400,
                "this server takes no webhooks: it was started without --secret-key "
                "(MASSGEN_SERVER_SECRET_KEY) to encrypt their secrets",
                code="webhooks_disabled",
            )
        return {"url": value["url"], "secret": secret, "events": events, "headers": headers}

    async def submit(self, request: Request, owner: str) -> Response:
        body = await self.context.read_json(request)
        check_fields(body, "POST /v1/tasks")
        options = run_options(body, self.context.request_limits)
        parse_messages(body.get("messages"))
        requested = clean_text(body["model"]) if isinstance(body.get("model"), str) else None
        apply_options(self.runs.resolve(requested), options)  # refused now, not when it runs
        spec = {
            # the question's text as it will be read (lone surrogates replaced), storable
            "messages": without_surrogates(body["messages"]),
            "model": requested,
            "model_name": (requested or MODEL_NAME)[:200],
            "timeout": _timeout(body.get("timeout")),
            "options": options.stored(),
        }
        meta = _metadata(body.get("metadata"))
        priority = _priority(body.get("priority"))
        hook = None if body.get("webhook") is None else await self._webhook(body["webhook"])
        store = await self.context.require_store()
        row = await asyncio.to_thread(store.create_task, owner, spec, meta, hook, priority)
        self.metrics.tasks_submitted.inc()
        self.runner.wake.set()
        return JSONResponse(
            public_task(row), status_code=202, headers={"Location": f"/v1/tasks/{row['id']}"}
        )

    async def get(self, request: Request, owner: str) -> Response:
        store = await self.context.require_store()
        row = await asyncio.to_thread(store.task, request.path_params["task_id"], owner)
        return JSONResponse(public_task(row)) if row else _not_found()

    async def listing(self, request: Request, owner: str) -> Response:
        query = request.query_params
        statuses = [s for s in query.get("status", "").split(",") if s]
        unknown = sorted(set(statuses) - set(STATUSES))
        if unknown:
            raise BadRequest(
                400,
                f"unknown status {unknown}; one of {', '.join(STATUSES)}",
                code="invalid_status",
            )
        try:
            limit = int(query.get("limit", "20"))
            before = float(query["before"]) if "before" in query else None
        except ValueError:
            raise BadRequest(
                400, "limit and before must be numbers", code="invalid_query"
            ) from None
        if not 1 <= limit <= MAX_LIST:
            raise BadRequest(400, f"limit must be between 1 and {MAX_LIST}", code="invalid_query")
        store = await self.context.require_store()
        rows = await asyncio.to_thread(store.list_tasks, owner, statuses, limit + 1, before)
        data = [public_task(r) for r in rows[:limit]]
        return JSONResponse({"object": "list", "data": data, "has_more": len(rows) > limit})

    async def cancel(self, request: Request, owner: str) -> Response:
        task_id = request.path_params["task_id"]
        store = await self.context.require_store()
        row = await asyncio.to_thread(store.task, task_id, owner)
        if row is None:
            return _not_found()
        if row["status"] == "queued":
            await self.runner.cancel_queued(task_id)
        elif row["status"] == "running":
            if not self.runner.cancel_local(task_id):  # running in another process
                await asyncio.to_thread(store.request_cancel, task_id, owner)
            else:
                await self._until_ended(task_id, owner)
        row = await asyncio.to_thread(store.task, task_id, owner)
        return JSONResponse(
            public_task(row or {}), status_code=200 if row and row["status"] in TERMINAL else 202
        )

    async def _until_ended(self, task_id: str, owner: str, seconds: float = 10) -> None:
        store = await self.context.require_store()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while loop.time() < deadline:
            row = await asyncio.to_thread(store.task, task_id, owner)
            if row is None or row["status"] in TERMINAL:
                return
            await asyncio.sleep(0.05)

    async def events(self, request: Request, owner: str) -> Response:
        task_id = request.path_params["task_id"]
        after = _last_event_id(request)
        store = await self.context.require_store()
        row = await asyncio.to_thread(store.task, task_id, owner)
        if row is None:
            return _not_found()
        if row["status"] in TERMINAL and not await asyncio.to_thread(
            store.events, task_id, after, 1
        ):
            return Response(status_code=204)  # all sent: an EventSource stops reconnecting

        async def stream() -> AsyncIterator[str]:
            yield "retry: 1000\n\n"
            async for item in self.runner.events(task_id, after):
                if item.get("keepalive"):
                    yield ": keep-alive\n\n"
                    continue
                data = await event_data(store, item, task_id, owner)
                text = json.dumps(data, ensure_ascii=False)
                yield f"id: {item['seq']}\nevent: {item['type']}\ndata: {text}\n\n"

        return SSEResponse(stream())

    async def deliveries(self, request: Request, owner: str) -> Response:
        task_id = request.path_params["task_id"]
        store = await self.context.require_store()
        if await asyncio.to_thread(store.task, task_id, owner) is None:
            return _not_found()
        rows = await asyncio.to_thread(store.deliveries_of, task_id)
        return JSONResponse({"object": "list", "data": [_public_delivery(r) for r in rows]})

    async def create_webhook(self, request: Request, owner: str) -> Response:
        body = await self.context.read_json(request)
        hook = await self._webhook(body)
        store = await self.context.require_store()
        row = await asyncio.to_thread(
            store.add_webhook, owner, hook["url"], hook["events"], hook["secret"], hook["headers"]
        )
        return JSONResponse(_public_webhook(row), status_code=201)

    async def list_webhooks(self, request: Request, owner: str) -> Response:
        store = await self.context.require_store()
        rows = await asyncio.to_thread(store.list_webhooks, owner)
        return JSONResponse({"object": "list", "data": [_public_webhook(r) for r in rows]})

    async def delete_webhook(self, request: Request, owner: str) -> Response:
        store = await self.context.require_store()
        webhook_id = request.path_params["webhook_id"]
        done = await asyncio.to_thread(store.delete_webhook, webhook_id, owner)
        if not done:
            return _not_found("webhook")
        return JSONResponse({"id": webhook_id, "deleted": True})
