"""The ASGI app of ``massgen serve``: :func:`create_app` wires the server's services, lists
their routes and wraps them in the middleware. It is the only place that knows every piece;
each service is given what it uses (docs/architecture.md, "The server").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware

from massgen.addresses import Resolver
from massgen.errors import ConfigurationError
from massgen.server.artifact_routes import ArtifactRoutes
from massgen.server.bearer import JWTSettings, verifier_for
from massgen.server.chat_routes import ChatRoutes
from massgen.server.context import ServerContext
from massgen.server.debate_routes import DebateKind, DebateRoutes
from massgen.server.embedding_routes import EmbeddingRoutes
from massgen.server.embeddings import Embeddings, parse_model
from massgen.server.ensemble import EnsembleRoutes
from massgen.server.health import ProviderHealth
from massgen.server.http import JSONErrors, MiB, Observed, not_found
from massgen.server.limiter import RunLimiter
from massgen.server.mcp_gateway import MCPGateway, session_listeners
from massgen.server.mcp_routes import MCPRoutes
from massgen.server.metrics import Metrics
from massgen.server.ocr_routes import OCRRoutes
from massgen.server.options import DEFAULT_MAX_REQUEST_TOKENS
from massgen.server.request_fields import Limits
from massgen.server.runs import RunService, load_team
from massgen.server.sealing import Sealer, SecretKeyError
from massgen.server.status_routes import StatusRoutes
from massgen.server.store import LazyStore, Store
from massgen.server.task_routes import TaskRoutes, public_task
from massgen.server.task_socket import TaskSocket
from massgen.server.tasks import TaskRunner
from massgen.server.tracing import provider_from_env
from massgen.server.webhooks import AllowList, Deliverer, signature_header_name

__all__ = ["Services", "create_app"]

log = logging.getLogger("massgen.server")


@dataclass(frozen=True)
class Services:
    """One app's services, kept on ``app.state.massgen`` (``massgen serve`` checks the store
    through it before serving)."""

    context: ServerContext
    runs: RunService
    runner: TaskRunner

    @property
    def api_keys(self) -> list[str]:
        return self.context.api_keys

    @property
    def limiter(self) -> RunLimiter:
        return self.context.limiter

    @property
    def tasks(self) -> set[asyncio.Task[Any]]:
        """The runs going on now."""
        return self.runs.tasks

    @property
    def store(self) -> Store | None:
        """The task store, when it is open."""
        return self.context.store.current

    def check_store(self) -> None:
        """Open an existing store now: keys that do not open its secrets stop the server."""
        self.context.store.check()

    async def startup(self) -> None:
        self.runs.start()
        try:
            await asyncio.to_thread(self.context.store.open, False)
        except SecretKeyError:  # the store holds secrets these keys cannot open: refuse
            raise
        except Exception as exc:  # a database that is down: tasks start when it answers
            log.warning("massgen: task store unavailable: %s", type(exc).__name__)
        self.runner.start()

    async def shutdown(self) -> None:
        await self.runner.stop()
        await self.runs.stop()


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
    webhook_resolver: Resolver | None = None,
    webhook_signature_header: str | None = None,
    secret_keys: Sequence[str] = (),
    task_options: dict[str, Any] | None = None,
    tracer_provider: Any = None,
    max_request_tokens: int = DEFAULT_MAX_REQUEST_TOKENS,
    request_sampling: bool = True,
    embeddings: Sequence[str] = (),
    jwt: dict[str, Any] | None = None,
    mcp_allow_tools: Sequence[str] = (),
) -> Observed:
    """The ASGI app. ``config`` (path, name or dict) or ``model`` is resolved once, now: a
    bad config fails at startup, and requests can only choose ``massgen/model:<id>``. Every
    run is recorded as a session (under ``log_dir``) unless ``enable_logging`` is False.

    ``db`` is the task store's URL (default ``$MASSGEN_SERVER_DB``, else SQLite in the user
    data dir, created at the first task). ``webhook_allow`` lists the private address ranges
    or host names webhooks may target; ``webhook_resolver`` (``async (host, port) ->
    addresses``) replaces the system resolver for their names; ``webhook_signature_header``
    names a second header that carries each delivery's signature. ``secret_keys``: the Fernet
    keys that encrypt webhook secrets in the store (the first encrypts, all decrypt; none:
    webhooks are refused). ``tracer_provider``: an OpenTelemetry tracer provider (default:
    from the ``OTEL_*`` variables, when the ``otel`` extra is installed).

    A request's ``max_tokens`` may be at most ``max_request_tokens``; with ``request_sampling``
    False a request cannot set the agents' ``temperature`` or ``top_p``
    (:mod:`massgen.server.request_fields`). ``embeddings`` names the models of
    ``POST /v1/embeddings`` (``PROVIDER/MODEL`` or ``local``: :mod:`massgen.server.embeddings`).
    ``jwt``: the :class:`JWTSettings` fields (secret, public_key or jwks_url; audience,
    issuer) of bearer JWTs accepted beside the API keys (:mod:`massgen.server.bearer`).
    ``mcp_allow_tools``: the tools of the config's MCP servers a caller may run over HTTP
    (:mod:`massgen.server.mcp_gateway`; none by default)."""
    from massgen.redaction import Redactor, secrets_from_env
    from massgen.sessions.recorder import config_secrets

    tracer_provider = tracer_provider if tracer_provider is not None else provider_from_env()
    prepared = load_team(config, model)
    try:
        embedder = Embeddings([parse_model(spec) for spec in embeddings])
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    settings = JWTSettings(**(jwt or {}))
    verifier = verifier_for(settings)
    keys = [k for k in api_keys if k]
    sealer = Sealer(secret_keys)
    metrics = Metrics()
    store = LazyStore(
        db, sealer, on_open=lambda opened: metrics.watch_tasks(opened.count_by_status)
    )
    limiter = RunLimiter(max_concurrency)
    allow = AllowList.parse(webhook_allow)
    try:
        signature_header = (
            signature_header_name(webhook_signature_header) if webhook_signature_header else None
        )
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    redact = Redactor(
        [
            *secrets_from_env(),
            *config_secrets(prepared.config),
            *keys,
            *(k.strip() for k in secret_keys if k.strip()),
            *([settings.secret] if settings.secret else []),
        ]
    )
    runs = RunService(
        prepared,
        metrics,
        tracer_provider=tracer_provider,
        enable_logging=enable_logging,
        log_dir=log_dir,
    )

    try:
        gateway = MCPGateway(prepared.config, mcp_allow_tools, session_listeners(runs))
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None

    def deliverer(opened: Store) -> Deliverer:
        return Deliverer(
            opened,
            allow,
            on_result=lambda outcome: metrics.deliveries.labels(outcome).inc(),
            resolver=webhook_resolver,
            signature_header=signature_header,
            **(webhook_options or {}),
        )

    runner = TaskRunner(
        store,
        runs,
        limiter,
        task_view=public_task,
        deliverer=deliverer,
        redact=redact,
        kinds={"debate": DebateKind()},
        **(task_options or {}),
    )
    context = ServerContext(
        api_keys=keys,
        store=store,
        limiter=limiter,
        request_limits=Limits(max_request_tokens, request_sampling),
        max_body_bytes=max_body_bytes,
        body_timeout=body_timeout,
        webhook_allow=allow,
        webhook_resolver=webhook_resolver,
        on_store=runner.start,
        jwt=verifier,
    )
    services = Services(context, runs, runner)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await services.startup()
        refresher = None
        if verifier is not None:  # a JWKS: fetched before the first request, then kept fresh
            await verifier.refresh()
            refresher = asyncio.create_task(verifier.keep_fresh(), name="massgen-jwks")
        try:
            yield
        finally:
            if refresher is not None:
                refresher.cancel()
            await gateway.close()
            await services.shutdown()
            await embedder.aclose()

    app = Starlette(
        routes=[
            *StatusRoutes(context, metrics, ProviderHealth(prepared.config)).routes(),
            *ChatRoutes(context, runs).routes(),
            *EnsembleRoutes(context, runs).routes(),
            *EmbeddingRoutes(context, embedder).routes(),
            *OCRRoutes(context, runs, redact).routes(),
            *MCPRoutes(context, gateway).routes(),
            *TaskRoutes(context, runs, runner, metrics).routes(),
            *ArtifactRoutes(context).routes(),
            *TaskSocket(context, runner).routes(),
            *DebateRoutes(context, runs, runner, metrics).routes(),
        ],
        exception_handlers={404: not_found, 405: not_found},
        middleware=[Middleware(JSONErrors, redact=redact)],
        lifespan=lifespan,
    )
    app.state.massgen = services

    def count(route: str, method: str, status: str) -> None:
        metrics.requests.labels(route, method, status).inc()

    return Observed(app, count)
