"""The OpenAI-compatible HTTP server: ``GET /health``, ``GET /v1/models`` and
``POST /v1/chat/completions`` (JSON or SSE).

The server's config is the authority (docs/architecture.md, "The server"): a request's
``model`` is ignored unless it
is ``massgen/model:<id>``, which runs a team on that model; no request can name a path.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import math
import threading
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route

from massgen.api import ActiveRun, AnswerStream, Prepared, prepare
from massgen.errors import ConfigurationError
from massgen.server.http import (
    MAX_JSON_DEPTH,
    BadRequest,
    JSONErrors,
    MiB,
    SSEResponse,
    error_response,
    nesting,
    parse_messages,
    read_json,
    request_images,
)
from massgen.server.limiter import RunLimiter
from massgen.server.request_fields import (
    DEFAULT_MAX_REQUEST_TOKENS,
    Limits,
    check_fields,
    run_options,
)
from massgen.server.request_fields import apply as apply_options
from massgen.server.sealing import SecretKeyError
from massgen.terminal import clean_text

__all__ = ["MAX_JSON_DEPTH", "MiB", "create_app", "error_response", "parse_messages"]

log = logging.getLogger("massgen.server")

MODEL_NAME = "massgen"
MODEL_PREFIX = "massgen/model:"
_BadRequest = BadRequest  # the name earlier versions used
_nesting = nesting
_SSEResponse = SSEResponse


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


def owner_of(key: str) -> str:
    """The owner id of an API key in the store (a digest: the key itself is never stored)."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]


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
        *,
        db: str | None = None,
        webhook_allow: Sequence[str] = (),
        webhook_options: dict[str, Any] | None = None,
        webhook_resolver: Any = None,
        secret_keys: Sequence[str] = (),
        task_options: dict[str, Any] | None = None,
        tracer_provider: Any = None,
        request_limits: Limits | None = None,
    ) -> None:
        from massgen.redaction import Redactor, secrets_from_env
        from massgen.server.health import ProviderHealth
        from massgen.server.metrics import Metrics
        from massgen.server.sealing import Sealer
        from massgen.server.tasks import TaskRunner
        from massgen.server.webhooks import AllowList
        from massgen.server.writer import Writer
        from massgen.sessions.recorder import config_secrets

        self.prepared: Prepared = prepare(config=config) if model is None else prepare(model=model)
        _check_cost_caps(self.prepared)
        self.enable_logging = enable_logging
        self.log_dir = log_dir
        self.api_keys = [k for k in api_keys if k]
        self.limiter = RunLimiter(max_concurrency)
        self.request_limits = request_limits or Limits()
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout
        self.tasks: set[asyncio.Task[Any]] = set()
        self.db_url = db
        self.store: Any = None
        self._store_lock = threading.Lock()
        self.webhook_allow = AllowList.parse(webhook_allow)
        self.webhook_options = webhook_options or {}
        self.webhook_resolver = webhook_resolver
        self.sealer = Sealer(secret_keys)
        self.metrics = Metrics()
        self.tracer_provider = tracer_provider
        self.health_checks = ProviderHealth(self.prepared.config)
        self.sessions = Writer("massgen-sessions")
        self.runner = TaskRunner(self, **(task_options or {}))
        self.redact = Redactor(
            [
                *secrets_from_env(),
                *config_secrets(self.prepared.config),
                *self.api_keys,
                *(k.strip() for k in secret_keys if k.strip()),
            ]
        )

    # ---- store

    def open_store(self, create: bool = True) -> bool:
        """Open the store; with ``create`` False, only an existing SQLite file (or a server
        database): a server that never ran a task leaves no file behind."""
        from massgen.server.store import Store, default_url, sqlite_path

        with self._store_lock:
            if self.store is not None:
                return True
            url = self.db_url or default_url()
            path = sqlite_path(url)
            if not create and path is not None and not path.exists():
                return False
            self.store = Store(url, self.sealer)
            self.metrics.watch_tasks(self.store.count_by_status)
            return True

    async def require_store(self) -> Any:
        """The store, opened (and the task runner started) on first use."""
        if self.store is None:
            await asyncio.to_thread(self.open_store)
            self.start_background()
        return self.store

    def check_store(self) -> None:
        """Open an existing store now, so that secret keys that do not open its webhook
        secrets stop the server before it serves (:class:`SecretKeyError`); a store that
        cannot be reached is left to :meth:`startup`."""
        try:
            self.open_store(create=False)
        except SecretKeyError:
            raise
        except Exception as exc:
            log.debug("massgen: task store not checked: %s", type(exc).__name__)

    def start_background(self) -> None:
        """Start this process's task runner and webhook deliverer (idempotent)."""
        self.runner.start()
        if self.runner.deliverer is None and self.store is not None:
            from massgen.server.webhooks import Deliverer

            deliverer = Deliverer(
                self.store,
                self.webhook_allow,
                on_result=lambda outcome: self.metrics.deliveries.labels(outcome).inc(),
                resolver=self.webhook_resolver,
                **self.webhook_options,
            )
            self.runner.deliverer = deliverer
            self.runner.loops.append(asyncio.create_task(deliverer.run(), name="massgen-webhooks"))

    async def warm(self) -> None:
        """Import the engine and the provider SDKs now (in a thread, ~0.5 s), so the first
        run does not pay for it; the local model is left to load on first use."""

        def build() -> list[Any]:
            from massgen.coordination import engine  # noqa: F401
            from massgen.coordination.build import build_agents

            remote = [a for a in self.prepared.config.agents if a.backend.type != "local"]
            if not remote:
                return []
            return build_agents(self.prepared.config.model_copy(update={"agents": remote}))

        try:
            agents = await asyncio.to_thread(build)
        except Exception as exc:  # a run will report the same problem, with context
            log.debug("massgen: warm-up: %s", exc)
            return
        for agent in agents:
            with contextlib.suppress(Exception):
                await agent.backend.aclose()

    async def startup(self) -> None:
        self.warming = asyncio.create_task(self.warm())
        try:
            await asyncio.to_thread(self.open_store, False)
        except SecretKeyError:  # the store holds secrets these keys cannot open: refuse
            raise
        except Exception as exc:  # a database that is down: tasks start when it answers
            log.warning("massgen: task store unavailable: %s", type(exc).__name__)
        self.runner.start()
        if self.store is not None:
            self.start_background()

    async def shutdown(self) -> None:
        with contextlib.suppress(Exception):
            await self.warming
        await self.runner.stop()
        await asyncio.to_thread(self.sessions.flush, 10)

    # ---- helpers

    def owner(self, request: Request) -> str | None:
        """The store owner of the request's API key ("" with no keys configured); None
        when the key is missing or wrong."""
        if not self.api_keys:
            return ""
        given = request.headers.get("x-api-key", "")
        auth = request.headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            given = auth[7:].strip() or given
        if not given:
            return None
        found = None
        for key in self.api_keys:  # every key compared, in constant time
            if hmac.compare_digest(given.encode(), key.encode()):
                found = key
        return owner_of(found) if found is not None else None

    def authorized(self, request: Request) -> bool:
        return self.owner(request) is not None

    async def read_json(self, request: Request) -> dict[str, Any]:
        return await read_json(request, self.max_body_bytes, self.body_timeout)

    def resolve(self, requested: Any) -> Prepared:
        """The team a request runs: the server's own, or with ``massgen/model:<id>`` the
        same team on another model through an endpoint the server's config already uses.
        Nothing in a request is expanded (``${VAR}``) or read from disk."""
        if not (isinstance(requested, str) and requested.startswith(MODEL_PREFIX)):
            return self.prepared
        name = requested[len(MODEL_PREFIX) :].strip()
        if not name:
            raise BadRequest(400, "empty model id", "invalid_request_error", "invalid_model")
        if len(name) > 200 or not name.isprintable():
            raise BadRequest(400, "invalid model id", "invalid_request_error", "invalid_model")
        from massgen.config.models import override_model

        try:
            config = override_model(self.prepared.config, name)
        except ConfigurationError as exc:
            raise BadRequest(400, str(exc), "invalid_request_error", "invalid_model") from None
        return Prepared(config, f"{self.prepared.source} (model {name})")

    trace_line = staticmethod(_trace_line)

    async def events(
        self,
        prepared: Prepared,
        question: str,
        history: list[tuple[str, str]],
        images: Sequence[Any] = (),
    ) -> AsyncIterator[dict[str, Any]]:
        """The run's events; closing the iterator (or cancelling its consumer) cancels the run.
        Each run is recorded as its own session unless logging is off (written in a thread,
        off the event loop), counted in the metrics and traced when tracing is on."""
        from massgen.server.tracing import run_listener

        active = ActiveRun(prepared, question, history, None, images)
        closers = []
        if self.enable_logging:
            from massgen.server.writer import SessionRelay
            from massgen.sessions.recorder import SessionRecorder

            relay = SessionRelay(
                SessionRecorder(prepared.config, prepared.source, log_dir=self.log_dir),
                self.sessions,
            )
            active.bus.add_listener(relay)
            closers.append(relay.close)
        counting = self.metrics.listener()
        active.bus.add_listener(counting)
        closers.append(counting.close)  # type: ignore[attr-defined]
        tracer = run_listener(self.tracer_provider)
        if tracer is not None:
            active.bus.add_listener(tracer)
            closers.append(tracer.close)  # type: ignore[attr-defined]

        def finished(_: asyncio.Task[Any]) -> None:
            self.tasks.discard(active.task)
            for close in closers:
                with contextlib.suppress(Exception):
                    close()

        self.tasks.add(active.task)
        active.task.add_done_callback(finished)
        async for event in active.events():
            yield event
        with contextlib.suppress(Exception):
            await active.result()

    @staticmethod
    def completion(
        completion_id: str,
        model: str,
        finished: dict[str, Any],
        trace: Sequence[str],
        *,
        text: bool = False,
    ) -> dict[str, Any]:
        """The ``chat.completion`` (or ``text_completion``) object of a finished run."""
        prompt = int(finished.get("prompt_tokens") or 0)
        completion = int(finished.get("completion_tokens") or 0)
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        if text:
            choice: dict[str, Any] = {
                "index": 0,
                "text": finished["final_answer"],
                "logprobs": None,
                "finish_reason": "stop",
            }
        else:
            choice = {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": finished["final_answer"],
                    "reasoning_content": "".join(trace),
                },
                "finish_reason": "stop",
            }
        return {
            "id": completion_id,
            "object": "text_completion" if text else "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [choice],
            "usage": usage,
            # ok, or why the run ended early with its best answer: timeout, budget, failed
            "massgen_status": str(finished.get("status") or "ok"),
        }

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

    async def metrics_endpoint(self, request: Request) -> Response:
        if not self.authorized(request):
            return self.unauthorized()
        if self.store is None:
            await asyncio.to_thread(self.open_store, False)
        body, content_type = await asyncio.to_thread(self.metrics.render)
        return Response(body, media_type=content_type)

    async def providers_health(self, request: Request) -> Response:
        if not self.authorized(request):
            return self.unauthorized()
        return JSONResponse(await self.health_checks.report())

    async def embeddings(self, request: Request) -> Response:
        return error_response(
            404,
            "embeddings are not supported by massgen serve (it coordinates agents' answers; "
            "use a provider's embeddings API directly)",
            "invalid_request_error",
            "unsupported_endpoint",
        )

    def guarded(self, handler: Any) -> Any:
        """An endpoint ``handler(server, request, owner)`` behind the API key check, with
        client mistakes answered as OpenAI-style errors."""

        from sqlalchemy.exc import SQLAlchemyError

        async def endpoint(request: Request) -> Response:
            owner = self.owner(request)
            if owner is None:
                return self.unauthorized()
            try:
                return await handler(self, request, owner)
            except BadRequest as exc:
                return exc.response()
            except SecretKeyError as exc:  # the store opened late, with secrets we cannot read
                return error_response(503, str(exc), "server_error", "store_locked")
            except (OSError, SQLAlchemyError) as exc:  # the database is down or refuses
                log.warning("massgen: task store: %s", type(exc).__name__)
                return error_response(
                    503,
                    "the task store is unavailable; try again later",
                    "server_error",
                    "store_unavailable",
                )

        return endpoint

    async def chat(self, request: Request) -> Response:
        return await self._run_request(request, text=False)

    async def text_completions(self, request: Request) -> Response:
        return await self._run_request(request, text=True)

    async def _run_request(self, request: Request, *, text: bool) -> Response:
        if not self.authorized(request):
            return self.unauthorized()
        try:
            body = await self.read_json(request)
            check_fields(body, "POST /v1/completions" if text else "POST /v1/chat/completions")
            options = run_options(body, self.request_limits)
            images: list[Any] = []
            if text:
                question, history = _prompt_question(body.get("prompt")), []
            else:
                question, history = parse_messages(body.get("messages"))
                images = request_images(body.get("messages"))
            prepared = apply_options(self.resolve(body.get("model")), options)
        except BadRequest as exc:
            return exc.response()
        slot = self.limiter.try_acquire()
        if slot is None:
            return self.busy()
        completion_id = f"{'cmpl' if text else 'chatcmpl'}-{uuid.uuid4().hex}"
        requested = body.get("model")
        model = clean_text(requested) if isinstance(requested, str) and requested else MODEL_NAME
        if body.get("stream"):
            return SSEResponse(
                self._sse(prepared, question, history, completion_id, model, text, images),
                on_close=slot.release,
            )
        try:
            return await self._complete(
                request, prepared, question, history, completion_id, model, text, images
            )
        finally:
            slot.release()

    def busy(self) -> Response:
        """The 429 of a full server, saying when a run is expected to be free (Retry-After
        in whole seconds; retry-after-ms, which the openai clients read, exactly)."""
        wait = self.limiter.retry_after()
        return error_response(
            429,
            f"the server is busy (--max-concurrency {self.limiter.limit}); try again in "
            f"{wait:.1f}s",
            "rate_limit_error",
            "too_many_requests",
            headers={
                "Retry-After": str(max(1, math.ceil(wait))),
                "retry-after-ms": str(round(wait * 1000)),
            },
        )

    async def _complete(
        self,
        request: Request,
        prepared: Prepared,
        question: str,
        history: list[tuple[str, str]],
        completion_id: str,
        model: str,
        text: bool = False,
        images: Sequence[Any] = (),
    ) -> Response:
        async def collect() -> tuple[list[str], dict[str, Any] | None]:
            trace, finished = [], None
            async for event in self.events(prepared, question, history, images):
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
        return JSONResponse(self.completion(completion_id, model, finished, trace, text=text))

    async def _sse(
        self,
        prepared: Prepared,
        question: str,
        history: list[tuple[str, str]],
        completion_id: str,
        model: str,
        text: bool = False,
        images: Sequence[Any] = (),
    ) -> AsyncIterator[str]:
        created = int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
            if text:
                if "content" not in delta and finish is None:
                    return ""  # a text completion has no role or trace chunks
                choice = {
                    "index": 0,
                    "text": delta.get("content", ""),
                    "logprobs": None,
                    "finish_reason": finish,
                }
                kind = "text_completion"
            else:
                choice = {"index": 0, "delta": delta, "finish_reason": finish}
                kind = "chat.completion.chunk"
            data = {
                "id": completion_id,
                "object": kind,
                "created": created,
                "model": model,
                "choices": [choice],
                **extra,
            }
            return f"data: {json.dumps(data)}\n\n"

        events = self.events(prepared, question, history, images)
        try:
            if not text:
                yield chunk({"role": "assistant", "content": ""})
            finished: dict[str, Any] | None = None
            answer = AnswerStream()
            async for event in events:
                kind = event.get("type")
                line = _trace_line(event)
                if line:
                    if not text:
                        yield chunk({"reasoning_content": line})
                else:
                    piece = answer.feed(event)
                    if piece:
                        yield chunk({"content": piece})
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
                    massgen_status=str(finished.get("status") or "ok"),  # type: ignore[union-attr]
                )
            yield "data: [DONE]\n\n"
        finally:
            await events.aclose()


def _prompt_question(prompt: Any) -> str:
    """The question of a ``/v1/completions`` request: its prompt (a string, or a list of
    one string)."""
    if isinstance(prompt, list):
        if len(prompt) != 1 or not isinstance(prompt[0], str):
            raise BadRequest(
                400,
                "'prompt' must be a string (or a list of one string): one question per request",
                "invalid_request_error",
                "invalid_prompt",
            )
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise BadRequest(
            400, "'prompt' must be a string", "invalid_request_error", "invalid_prompt"
        )
    question = clean_text(prompt).strip()
    if not question:
        raise BadRequest(400, "'prompt' is empty", "invalid_request_error", "invalid_prompt")
    return question


class _Observed:
    """ASGI middleware counting requests by route template, method and status."""

    def __init__(self, app: Any, server: MassGenServer) -> None:
        self.app, self.server = app, server

    def _route(self, scope: Any) -> str:
        for route in self.app.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return route.path
        return "other"

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 499}

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.server.metrics.requests.labels(
                self._route(scope), scope.get("method", ""), str(status["code"])
            ).inc()


def _check_cost_caps(prepared: Prepared) -> None:
    """A cost cap on a model without a price fails at startup, not in every request."""
    config = prepared.config
    orchestrator = config.orchestrator
    caps = [orchestrator.max_cost_usd, orchestrator.agent_max_cost_usd]
    caps += [agent.max_cost_usd for agent in config.agents]
    if all(cap is None for cap in caps):
        return
    from massgen.coordination.budget import check_prices
    from massgen.coordination.build import build_agents

    check_prices(build_agents(config), orchestrator)


def create_app(
    config: str | Path | dict[str, Any] | None = None,
    model: str | None = None,
    api_keys: Sequence[str] = (),
    max_concurrency: int = 8,
    max_body_bytes: int = MiB,
    enable_logging: bool = True,
    log_dir: str | Path | None = None,
    body_timeout: float = 30.0,
    *,
    db: str | None = None,
    webhook_allow: Sequence[str] = (),
    webhook_options: dict[str, Any] | None = None,
    webhook_resolver: Any = None,
    secret_keys: Sequence[str] = (),
    task_options: dict[str, Any] | None = None,
    tracer_provider: Any = None,
    max_request_tokens: int = DEFAULT_MAX_REQUEST_TOKENS,
    request_sampling: bool = True,
) -> Any:
    """The ASGI app. ``config`` (path, name or dict) or ``model`` is resolved once, now: a
    bad config fails at startup, and requests can only choose ``massgen/model:<id>``. Every
    run is recorded as a session (under ``log_dir``) unless ``enable_logging`` is False.

    ``db`` is the task store's URL (default ``$MASSGEN_SERVER_DB``, else SQLite in the user
    data dir, created at the first task). ``webhook_allow`` lists the private address ranges
    or host names webhooks may target; ``webhook_resolver`` (``async (host, port) ->
    addresses``) replaces the system resolver for their names. ``secret_keys``: the Fernet
    keys that encrypt webhook secrets in the store (the first encrypts, all decrypt; none:
    webhooks are refused). ``tracer_provider``: an OpenTelemetry tracer provider (default:
    from the ``OTEL_*`` variables, when the ``otel`` extra is installed).

    A request's ``max_tokens`` may be at most ``max_request_tokens``; with ``request_sampling``
    False a request cannot set the agents' ``temperature`` or ``top_p``
    (:mod:`massgen.server.request_fields`)."""
    from massgen.server import tasks_api as api
    from massgen.server.tracing import provider_from_env

    server = MassGenServer(
        config,
        model,
        api_keys,
        max_concurrency,
        max_body_bytes,
        enable_logging,
        log_dir,
        body_timeout=body_timeout,
        db=db,
        webhook_allow=webhook_allow,
        webhook_options=webhook_options,
        webhook_resolver=webhook_resolver,
        secret_keys=secret_keys,
        task_options=task_options,
        tracer_provider=tracer_provider if tracer_provider is not None else provider_from_env(),
        request_limits=Limits(max_request_tokens, request_sampling),
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

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        await server.startup()
        try:
            yield
        finally:
            await server.shutdown()

    guarded = server.guarded
    app = Starlette(
        routes=[
            Route("/health", server.health, methods=["GET"]),
            Route("/metrics", server.metrics_endpoint, methods=["GET"]),
            Route("/v1/models", server.models, methods=["GET"]),
            Route("/v1/chat/completions", server.chat, methods=["POST"]),
            Route("/v1/completions", server.text_completions, methods=["POST"]),
            Route("/v1/embeddings", server.embeddings, methods=["POST", "GET"]),
            Route("/v1/providers/health", server.providers_health, methods=["GET"]),
            Route("/v1/tasks", guarded(api.submit), methods=["POST"]),
            Route("/v1/tasks", guarded(api.listing), methods=["GET"]),
            Route("/v1/tasks/{task_id}", guarded(api.get), methods=["GET"]),
            Route("/v1/tasks/{task_id}/events", guarded(api.events), methods=["GET"]),
            Route("/v1/tasks/{task_id}/cancel", guarded(api.cancel), methods=["POST"]),
            Route("/v1/tasks/{task_id}/deliveries", guarded(api.deliveries), methods=["GET"]),
            Route("/v1/webhooks", guarded(api.create_webhook), methods=["POST"]),
            Route("/v1/webhooks", guarded(api.list_webhooks), methods=["GET"]),
            Route("/v1/webhooks/{webhook_id}", guarded(api.delete_webhook), methods=["DELETE"]),
        ],
        exception_handlers={404: not_found, 405: not_found},
        middleware=[Middleware(JSONErrors, redact=server.redact)],
        lifespan=lifespan,
    )
    app.state.massgen = server
    observed = _Observed(app, server)
    observed.state = app.state  # type: ignore[attr-defined]
    return observed
