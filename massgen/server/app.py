"""The OpenAI-compatible HTTP server: ``GET /health``, ``GET /v1/models`` and
``POST /v1/chat/completions`` (JSON or SSE).

The server's config is the authority (DESIGN §10): a request's ``model`` is ignored unless it
is ``massgen/model:<id>``, which runs a team on that model; no request can name a path.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from massgen.api import ActiveRun, AnswerStream, Prepared, prepare, split_messages
from massgen.errors import ConfigurationError
from massgen.terminal import clean_text

MODEL_NAME = "massgen"
MODEL_PREFIX = "massgen/model:"
MiB = 1024 * 1024
#: Deeper JSON than this is refused before parsing (a chat request needs about 5 levels).
MAX_JSON_DEPTH = 64


_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def _nesting(raw: bytes) -> int:
    """The deepest ``[``/``{`` nesting in JSON text (brackets inside strings ignored)."""
    brackets = _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for byte in brackets:
        if byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def error_response(status: int, message: str, type_: str, code: str | None = None) -> JSONResponse:
    """An OpenAI-style error body."""
    body = {"error": {"message": message, "type": type_, "code": code, "param": None}}
    return JSONResponse(body, status_code=status)


class _BadRequest(Exception):
    def __init__(self, status: int, message: str, type_: str, code: str) -> None:
        super().__init__(message)
        self.status, self.message, self.type_, self.code = status, message, type_, code

    def response(self) -> JSONResponse:
        return error_response(self.status, self.message, self.type_, self.code)


def parse_messages(messages: Any) -> tuple[str, list[tuple[str, str]]]:
    """The question and history of a request (see :func:`massgen.api.split_messages`)."""
    try:
        return split_messages(messages)
    except ConfigurationError as exc:
        raise _BadRequest(400, str(exc), "invalid_request_error", "invalid_messages") from None


def _trace_line(event: dict[str, Any]) -> str | None:
    """A short coordination-trace line for the events worth showing (answers, votes, winner)."""
    kind = event.get("type")
    if kind == "answer_submitted":
        content = " ".join(str(event.get("content") or "").split())
        if len(content) > 160:
            content = content[:157] + "..."
        return f"[{event.get('agent_id')}] answer {event.get('label')}: {content}\n"
    if kind == "vote_cast":
        reason = " ".join(str(event.get("reason") or "").split())[:160]
        return (
            f"[{event.get('agent_id') or event.get('voter')}] votes for "
            f"{event.get('target_agent_id') or event.get('target')}"
            + (f": {reason}" if reason else "")
            + "\n"
        )
    if kind == "agent_failed":
        return f"[{event.get('agent_id')}] failed: {str(event.get('reason') or '')[:160]}\n"
    if kind == "winner_selected":
        return (
            f"[orchestrator] selected {event.get('label')} "
            f"(answer {event.get('answer_label')}, votes {event.get('tally')})\n"
        )
    return None


class _Limiter:
    """Counts active runs; a run beyond ``limit`` is refused (429), not queued."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, int(limit))
        self.active = 0

    def try_acquire(self) -> bool:
        if self.active >= self.limit:
            return False
        self.active += 1
        return True

    def release(self) -> None:
        self.active = max(0, self.active - 1)


class _SSEResponse(StreamingResponse):
    """A streaming response that watches for the client going away even while the run is
    silent (the ASGI 2.4 path only notices on the next write), and always runs ``on_close``
    (even when the body was never started)."""

    def __init__(self, content: AsyncIterator[str], on_close: Any) -> None:
        super().__init__(
            content,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        self.on_close = on_close

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        scope = {**scope, "asgi": {**scope.get("asgi", {}), "spec_version": "2.0"}}
        try:
            await super().__call__(scope, receive, send)
        finally:
            with contextlib.suppress(Exception):
                await self.body_iterator.aclose()  # type: ignore[attr-defined]
            self.on_close()


class MassGenServer:
    def __init__(
        self,
        config: str | Path | dict[str, Any] | None,
        model: str | None,
        api_keys: Sequence[str],
        max_concurrency: int,
        max_body_bytes: int,
        enable_logging: bool = True,
        log_dir: str | Path | None = None,
        body_timeout: float = 30.0,
    ) -> None:
        self.prepared: Prepared = prepare(config=config) if model is None else prepare(model=model)
        self.enable_logging = enable_logging
        self.log_dir = log_dir
        self.api_keys = [k for k in api_keys if k]
        self.limiter = _Limiter(max_concurrency)
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout
        self.tasks: set[asyncio.Task[Any]] = set()

    # ---- helpers

    def authorized(self, request: Request) -> bool:
        if not self.api_keys:
            return True
        given = request.headers.get("x-api-key", "")
        auth = request.headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            given = auth[7:].strip() or given
        return bool(given) and any(
            hmac.compare_digest(given.encode(), key.encode()) for key in self.api_keys
        )

    async def read_json(self, request: Request) -> dict[str, Any]:
        """The request body as a JSON object: bounded in size (413), in the time it may take
        to arrive (408), and in nesting depth (400); never a 500."""
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > self.max_body_bytes:
            raise _BadRequest(
                413, "request body too large", "invalid_request_error", "request_too_large"
            )
        chunks, size = [], 0
        try:
            async with asyncio.timeout(self.body_timeout):
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > self.max_body_bytes:
                        raise _BadRequest(
                            413,
                            "request body too large",
                            "invalid_request_error",
                            "request_too_large",
                        )
                    chunks.append(chunk)
        except TimeoutError:
            raise _BadRequest(
                408,
                f"request body not received within {self.body_timeout:g}s",
                "invalid_request_error",
                "request_timeout",
            ) from None
        raw = b"".join(chunks)
        if _nesting(raw) > MAX_JSON_DEPTH:
            raise _BadRequest(
                400,
                f"request body is nested more than {MAX_JSON_DEPTH} levels deep",
                "invalid_request_error",
                "invalid_json",
            )
        try:
            body = json.loads(raw or b"null")
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            raise _BadRequest(
                400, "request body is not valid JSON", "invalid_request_error", "invalid_json"
            ) from None
        if not isinstance(body, dict):
            raise _BadRequest(
                400, "request body must be a JSON object", "invalid_request_error", "invalid_body"
            )
        return body

    def resolve(self, requested: Any) -> Prepared:
        """The team a request runs: the server's own, or with ``massgen/model:<id>`` the
        same team on another model through an endpoint the server's config already uses.
        Nothing in a request is expanded (``${VAR}``) or read from disk."""
        if not (isinstance(requested, str) and requested.startswith(MODEL_PREFIX)):
            return self.prepared
        name = requested[len(MODEL_PREFIX) :].strip()
        if not name:
            raise _BadRequest(400, "empty model id", "invalid_request_error", "invalid_model")
        if len(name) > 200 or not name.isprintable():
            raise _BadRequest(400, "invalid model id", "invalid_request_error", "invalid_model")
        from massgen.config.models import override_model

        try:
            config = override_model(self.prepared.config, name)
        except ConfigurationError as exc:
            raise _BadRequest(400, str(exc), "invalid_request_error", "invalid_model") from None
        return Prepared(config, f"{self.prepared.source} (model {name})")

    async def events(
        self, prepared: Prepared, question: str, history: list[tuple[str, str]]
    ) -> AsyncIterator[dict[str, Any]]:
        """The run's events; closing the iterator (or cancelling its consumer) cancels the run.
        Each run is recorded as its own session unless logging is off."""
        recorder = None
        if self.enable_logging:
            from massgen.sessions.recorder import SessionRecorder

            recorder = SessionRecorder(prepared.config, prepared.source, log_dir=self.log_dir)
        active = ActiveRun(prepared, question, history, recorder)
        self.tasks.add(active.task)
        active.task.add_done_callback(self.tasks.discard)
        async for event in active.events():
            yield event
        with contextlib.suppress(Exception):
            await active.result()

    # ---- endpoints

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def models(self, request: Request) -> Response:
        if not self.authorized(request):
            return self.unauthorized()
        created = int(time.time())
        team = {
            f"{MODEL_PREFIX}{a.backend.model}"
            for a in self.prepared.config.agents
            if getattr(a.backend, "model", None)
        }
        ids = [MODEL_NAME, *sorted(team)]
        data = [
            {"id": i, "object": "model", "created": created, "owned_by": "massgen"} for i in ids
        ]
        return JSONResponse({"object": "list", "data": data})

    def unauthorized(self) -> Response:
        return error_response(
            401, "invalid or missing API key", "invalid_request_error", "invalid_api_key"
        )

    async def chat(self, request: Request) -> Response:
        if not self.authorized(request):
            return self.unauthorized()
        try:
            body = await self.read_json(request)
            question, history = parse_messages(body.get("messages"))
            prepared = self.resolve(body.get("model"))
        except _BadRequest as exc:
            return exc.response()
        if not self.limiter.try_acquire():
            return error_response(
                429, "the server is busy; try again later", "rate_limit_error", "too_many_requests"
            )
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        requested = body.get("model")
        model = clean_text(requested) if isinstance(requested, str) and requested else MODEL_NAME
        if body.get("stream"):
            return _SSEResponse(
                self._sse(prepared, question, history, completion_id, model),
                on_close=self.limiter.release,
            )
        try:
            return await self._complete(request, prepared, question, history, completion_id, model)
        finally:
            self.limiter.release()

    async def _complete(
        self,
        request: Request,
        prepared: Prepared,
        question: str,
        history: list[tuple[str, str]],
        completion_id: str,
        model: str,
    ) -> Response:
        async def collect() -> tuple[list[str], dict[str, Any] | None]:
            trace, finished = [], None
            async for event in self.events(prepared, question, history):
                line = _trace_line(event)
                if line:
                    trace.append(line)
                if event.get("type") == "run_finished":
                    finished = event
            return trace, finished

        async def watch_disconnect() -> None:
            while True:
                message = await request.receive()
                if message["type"] == "http.disconnect":
                    return

        run = asyncio.create_task(collect())
        watcher = asyncio.create_task(watch_disconnect())
        try:
            await asyncio.wait({run, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (run, watcher):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
        if not run.done() or run.cancelled():
            return Response(status_code=499)
        trace, finished = run.result()
        if not finished or not finished.get("final_answer"):
            reason = (finished or {}).get("status", "failed")
            return error_response(
                502, f"the run produced no answer (status: {reason})", "server_error", "run_failed"
            )
        prompt = int(finished.get("prompt_tokens") or 0)
        completion = int(finished.get("completion_tokens") or 0)
        return JSONResponse(
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": finished["final_answer"],
                            "reasoning_content": "".join(trace),
                        },
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                },
            }
        )

    async def _sse(
        self,
        prepared: Prepared,
        question: str,
        history: list[tuple[str, str]],
        completion_id: str,
        model: str,
    ) -> AsyncIterator[str]:
        created = int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
            data = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra,
            }
            return f"data: {json.dumps(data)}\n\n"

        events = self.events(prepared, question, history)
        try:
            yield chunk({"role": "assistant", "content": ""})
            finished: dict[str, Any] | None = None
            answer = AnswerStream()
            async for event in events:
                kind = event.get("type")
                line = _trace_line(event)
                if line:
                    yield chunk({"reasoning_content": line})
                else:
                    text = answer.feed(event)
                    if text:
                        yield chunk({"content": text})
                if kind == "run_finished":
                    finished = event
            if not (finished or {}).get("final_answer"):
                reason = (finished or {}).get("status", "failed")
                error = {
                    "message": f"the run produced no answer (status: {reason})",
                    "type": "server_error",
                    "code": "run_failed",
                }
                yield f"data: {json.dumps({'error': error})}\n\n"
            else:
                tail = answer.finish(finished["final_answer"])  # type: ignore[index]
                if tail:
                    yield chunk({"content": tail})
                prompt = int(finished.get("prompt_tokens") or 0)  # type: ignore[union-attr]
                completion = int(finished.get("completion_tokens") or 0)  # type: ignore[union-attr]
                yield chunk(
                    {},
                    "stop",
                    usage={
                        "prompt_tokens": prompt,
                        "completion_tokens": completion,
                        "total_tokens": prompt + completion,
                    },
                )
            yield "data: [DONE]\n\n"
        finally:
            await events.aclose()


def create_app(
    config: str | Path | dict[str, Any] | None = None,
    model: str | None = None,
    api_keys: Sequence[str] = (),
    max_concurrency: int = 8,
    max_body_bytes: int = MiB,
    enable_logging: bool = True,
    log_dir: str | Path | None = None,
    body_timeout: float = 30.0,
) -> Starlette:
    """The ASGI app. ``config`` (path, name or dict) or ``model`` is resolved once, now: a
    bad config fails at startup, and requests can only choose ``massgen/model:<id>``. Every
    run is recorded as a session (under ``log_dir``) unless ``enable_logging`` is False."""
    server = MassGenServer(
        config,
        model,
        api_keys,
        max_concurrency,
        max_body_bytes,
        enable_logging,
        log_dir,
        body_timeout=body_timeout,
    )

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        return error_response(
            status,
            f"{request.method} {request.url.path}: not found"
            if status == 404
            else "method not allowed",
            "invalid_request_error",
            "not_found" if status == 404 else "method_not_allowed",
        )

    app = Starlette(
        routes=[
            Route("/health", server.health, methods=["GET"]),
            Route("/v1/models", server.models, methods=["GET"]),
            Route("/v1/chat/completions", server.chat, methods=["POST"]),
        ],
        exception_handlers={404: not_found, 405: not_found},
    )
    app.state.massgen = server
    return app
