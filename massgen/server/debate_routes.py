"""The debate endpoints: ``POST /v1/debates`` (start one), ``GET /v1/debates/{id}`` (its
status), ``GET /v1/debates/{id}/results`` (positions, consensus, each participant's figures).

A debate is a background task of the task store (:mod:`massgen.server.tasks`) of kind
``debate``: it is queued, claimed, heartbeated, recorded and ended as every task is, its
events are the task's (``GET /v1/tasks/{task_id}/events``: rounds included), and its end
sends ``task.<status>`` and ``debate.finished`` webhooks. Its task id is derived from the
API key and the ``debateId`` (:func:`~massgen.server.debates.task_id_of`): the same
``debateId`` twice is a 409, and another key's debate is a 404, as an unknown one is.
"""

from __future__ import annotations

import asyncio
import json
import math
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from massgen.runs import Prepared
from massgen.server.context import ServerContext
from massgen.server.debate_results import DebateTally, debate_results, debate_status
from massgen.server.debates import DebateSpec, parse, task_id_of, team_of, total_rounds
from massgen.server.http import BadRequest, error_response, refuse_surrogates
from massgen.server.metrics import Metrics
from massgen.server.runs import MODEL_NAME, RunService
from massgen.server.schema import from_json
from massgen.server.store import Store, TaskExists
from massgen.server.tasks import TaskRunner

#: The longest ``timeout`` a debate may ask for, in seconds (as a task's).
MAX_TIMEOUT = 24 * 3600
MAX_METADATA_BYTES = 16 * 1024
#: Events read per page when a debate's figures are folded.
PAGE = 500


class DebateKind:
    """Debates as a kind of task (:class:`~massgen.server.tasks.TaskKind`)."""

    event = "debate.finished"

    def prepare(self, prepared: Prepared, request: dict[str, Any]) -> Prepared:
        return team_of(DebateSpec.from_stored(request["debate"]), prepared)[0]

    def view(self, row: dict[str, Any]) -> dict[str, Any]:
        """A webhook's data: the debate as it ended."""
        debate = (from_json(row.get("request")) or {}).get("debate") or {}
        return {
            "object": "debate",
            "debateId": debate.get("id"),
            "topic": debate.get("topic"),
            "status": row["status"],
            "task_id": row["id"],
            "error": row.get("error"),
            "finished_at": row.get("finished_at"),
        }


def _not_found() -> Response:
    return error_response(404, "no such debate", "invalid_request_error", "not_found")


def _timeout(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadRequest(400, "timeout: must be a number of seconds", param="timeout")
    if not 1 <= value <= MAX_TIMEOUT:
        raise BadRequest(400, f"timeout: from 1 to {MAX_TIMEOUT} seconds", param="timeout")
    return float(value)


def _metadata(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, dict) or len(json.dumps(value)) > MAX_METADATA_BYTES:
        raise BadRequest(
            400,
            f"metadata: must be an object of at most {MAX_METADATA_BYTES} bytes",
            param="metadata",
        )
    refuse_surrogates(value, "metadata")
    return value


class DebateRoutes:
    """The endpoints (see module), over the services they use."""

    def __init__(
        self, context: ServerContext, runs: RunService, runner: TaskRunner, metrics: Metrics
    ) -> None:
        self.context, self.runs, self.runner, self.metrics = context, runs, runner, metrics

    def routes(self) -> list[Route]:
        guarded = self.context.guarded
        return [
            Route("/v1/debates", guarded(self.create), methods=["POST"]),
            Route("/v1/debates/{debate_id}", guarded(self.status), methods=["GET"]),
            Route("/v1/debates/{debate_id}/results", guarded(self.results), methods=["GET"]),
        ]

    async def create(self, request: Request, owner: str) -> Response:
        body = await self.context.read_json(request)
        spec = parse(body, f"debate-{uuid.uuid4().hex[:16]}")
        timeout = _timeout(body.get("timeout"))
        meta = _metadata(body.get("metadata"))
        prepared, shown = team_of(spec, self.runs.prepared)  # refused now, not when it runs
        debate = {
            **spec.stored(),
            "shown": shown,
            "total_rounds": total_rounds(prepared),
            "consensus_threshold_used": prepared.config.orchestrator.consensus_threshold,
        }
        stored = {
            "kind": "debate",
            "messages": [{"role": "user", "content": spec.topic}],
            "model": None,
            "model_name": MODEL_NAME,
            "timeout": timeout,
            "options": {},
            "debate": debate,
        }
        store = await self.context.require_store()
        task_id = task_id_of(owner, spec.debate_id)
        try:
            row = await asyncio.to_thread(store.create_task, owner, stored, meta, None, 0, task_id)
        except TaskExists:
            return error_response(
                409,
                f"debateId: a debate '{spec.debate_id}' exists already; choose another id",
                "invalid_request_error",
                "debate_exists",
                param="debateId",
            )
        self.metrics.tasks_submitted.inc()
        self.runner.wake.set()
        view = debate_status(debate, row, DebateTally(), debate["total_rounds"])
        view["participants"] = shown
        view["consensus_threshold"] = debate["consensus_threshold_used"]
        return JSONResponse(
            view, status_code=202, headers={"Location": f"/v1/debates/{spec.debate_id}"}
        )

    async def _find(
        self, request: Request, owner: str
    ) -> tuple[Store, dict[str, Any], dict[str, Any]] | None:
        store = await self.context.require_store()
        task_id = task_id_of(owner, request.path_params["debate_id"])
        row = await asyncio.to_thread(store.task, task_id, owner)
        if row is None:
            return None
        debate = (from_json(row.get("request")) or {}).get("debate")
        return (store, row, debate) if isinstance(debate, dict) else None

    async def _tally(self, store: Store, task_id: str) -> DebateTally:
        def read() -> DebateTally:
            tally, after = DebateTally(), 0
            while True:
                page = store.events(task_id, after, PAGE)
                for event in page:
                    tally.feed(event["type"], event["data"])
                if len(page) < PAGE:
                    return tally
                after = page[-1]["seq"]

        return await asyncio.to_thread(read)

    async def status(self, request: Request, owner: str) -> Response:
        found = await self._find(request, owner)
        if found is None:
            return _not_found()
        store, row, debate = found
        tally = await self._tally(store, row["id"])
        return JSONResponse(debate_status(debate, row, tally, debate["total_rounds"]))

    async def results(self, request: Request, owner: str) -> Response:
        found = await self._find(request, owner)
        if found is None:
            return _not_found()
        store, row, debate = found
        tally = await self._tally(store, row["id"])
        view = debate_results(debate, row, tally, debate["shown"], debate["total_rounds"])
        return JSONResponse(view)
