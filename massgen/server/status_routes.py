"""The server's own state: ``GET /health`` (it answers), ``GET /metrics`` (Prometheus) and
``GET /v1/providers/health`` (whether the config's providers answer)."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from massgen.server.context import ServerContext
from massgen.server.health import ProviderHealth
from massgen.server.metrics import Metrics


class StatusRoutes:
    """The endpoints (see module), over the services they use."""

    def __init__(self, context: ServerContext, metrics: Metrics, providers: ProviderHealth) -> None:
        self.context, self.metrics, self.providers = context, metrics, providers

    def routes(self) -> list[Route]:
        return [
            Route("/health", self.health, methods=["GET"]),
            Route("/metrics", self.metrics_endpoint, methods=["GET"]),
            Route("/v1/providers/health", self.providers_health, methods=["GET"]),
        ]

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def metrics_endpoint(self, request: Request) -> Response:
        if (refused := self.context.refusal(request)) is not None:
            return refused
        store = self.context.store
        if store.current is None:  # an existing store's tasks are counted
            await asyncio.to_thread(store.open, False)
        body, content_type = await asyncio.to_thread(self.metrics.render)
        return Response(body, media_type=content_type)

    async def providers_health(self, request: Request) -> Response:
        if (refused := self.context.refusal(request)) is not None:
            return refused
        return JSONResponse(await self.providers.report())
