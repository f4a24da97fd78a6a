"""``POST /v1/embeddings`` over :mod:`massgen.server.embeddings` (the operator's embedding
models; a 404 saying how to add one when there is none)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from massgen.server.context import ServerContext
from massgen.server.embeddings import Embeddings
from massgen.server.http import BadRequest, error_response


class EmbeddingRoutes:
    def __init__(self, context: ServerContext, embeddings: Embeddings) -> None:
        self.context, self.embeddings = context, embeddings

    def routes(self) -> list[Route]:
        return [Route("/v1/embeddings", self.create, methods=["POST"])]

    async def create(self, request: Request) -> Response:
        if (refused := self.context.refusal(request)) is not None:
            return refused
        if not self.embeddings.models:
            return error_response(
                404,
                "this server has no embedding model: its operator adds one with "
                "massgen serve --embeddings PROVIDER/MODEL (or --embeddings local)",
                "invalid_request_error",
                "unsupported_endpoint",
            )
        try:
            body = await self.context.read_json(request)
            chosen = self.embeddings.choose(body)
            return JSONResponse(await self.embeddings.create(chosen))
        except BadRequest as exc:
            return exc.response()
