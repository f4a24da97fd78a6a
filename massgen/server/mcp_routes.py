"""``/v1/mcp/...``: the MCP servers of the server's config, over HTTP
(:mod:`massgen.server.mcp_gateway`): their capabilities, tools, prompts and resources, and a
tool's call when the operator allows that tool (``massgen serve --mcp-allow-tool``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from massgen.server.context import ServerContext
from massgen.server.http import BadRequest
from massgen.server.mcp_gateway import MCPGateway


class MCPRoutes:
    def __init__(self, context: ServerContext, gateway: MCPGateway) -> None:
        self.context, self.gateway = context, gateway

    def routes(self) -> list[Route]:
        gateway = self.gateway
        return [
            Route("/v1/mcp/capabilities", self.answer(gateway.capabilities), methods=["GET"]),
            Route("/v1/mcp/tools", self.answer(gateway.tools), methods=["GET"]),
            Route("/v1/mcp/tools/call", self.call, methods=["POST"]),
            Route(
                "/v1/mcp/prompts", self.answer(lambda: gateway.listing("prompts")), methods=["GET"]
            ),
            Route(
                "/v1/mcp/resources",
                self.answer(lambda: gateway.listing("resources")),
                methods=["GET"],
            ),
        ]

    def answer(
        self, what: Callable[[], Awaitable[dict[str, Any]]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if (refused := self.context.refusal(request)) is not None:
                return refused
            try:
                return JSONResponse(await what())
            except BadRequest as exc:
                return exc.response()

        return endpoint

    async def call(self, request: Request) -> Response:
        if (refused := self.context.refusal(request)) is not None:
            return refused
        try:
            body = await self.context.read_json(request)
            return JSONResponse(await self.gateway.call(body))
        except BadRequest as exc:
            return exc.response()
