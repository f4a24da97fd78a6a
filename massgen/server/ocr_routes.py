"""``POST /v1/vision/ocr``: the team's reading of an image, with a confidence from the agents'
agreement (:mod:`massgen.server.ocr`). It takes a run slot (``--max-concurrency``) like a
chat request, and a client that goes away cancels the agents' calls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from massgen.server.context import ServerContext
from massgen.server.http import BadRequest, ClientLeft, error_response, unless_client_leaves
from massgen.server.ocr import NoReading, parse_request, read_image
from massgen.server.runs import RunService


class OCRRoutes:
    """See module; ``redact`` masks the server's secrets in what the answer quotes (the
    agents' readings, a provider's error)."""

    def __init__(
        self,
        context: ServerContext,
        runs: RunService,
        redact: Callable[[str], str] = lambda text: text,
    ) -> None:
        self.context, self.runs, self.redact = context, runs, redact

    def routes(self) -> list[Route]:
        return [Route("/v1/vision/ocr", self.ocr, methods=["POST"])]

    async def ocr(self, request: Request) -> Response:
        context = self.context
        if (refused := context.refusal(request)) is not None:
            return refused
        try:
            body = await context.read_json(request)
            ocr_request = parse_request(body)
            prepared = self.runs.resolve(ocr_request.model)
        except BadRequest as exc:
            return exc.response()
        slot = context.limiter.try_acquire()
        if slot is None:
            return context.busy()
        try:
            result: dict[str, Any] = await unless_client_leaves(
                request, read_image(prepared.config, ocr_request, self.redact)
            )
        except ClientLeft:
            return Response(status_code=499)
        except NoReading as exc:
            return error_response(502, str(exc), "server_error", "no_reading")
        finally:
            slot.release()
        return JSONResponse(result)
