"""The OpenAI endpoints: ``GET /v1/models``, ``POST /v1/chat/completions`` and
``POST /v1/completions`` (JSON, or SSE with ``stream``), and the refused
``/v1/embeddings``.

The server's config is the authority (docs/architecture.md, "The server"): a request's
``model`` is ignored unless it is ``massgen/model:<id>``, which runs a team on that model;
no request can name a path.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from massgen.chat_messages import AnswerStream
from massgen.runs import Prepared
from massgen.server.completions import DONE, Chunks, NoAnswer
from massgen.server.context import ServerContext
from massgen.server.http import (
    BadRequest,
    ClientLeft,
    SSEResponse,
    error_response,
    parse_messages,
    request_images,
    unless_client_leaves,
)
from massgen.server.request_fields import apply as apply_options
from massgen.server.request_fields import check_fields, run_options
from massgen.server.runs import MODEL_NAME, RunService
from massgen.terminal import clean_text


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


class ChatRoutes:
    """The endpoints (see module), over the services they use."""

    def __init__(self, context: ServerContext, runs: RunService) -> None:
        self.context, self.runs = context, runs

    def routes(self) -> list[Route]:
        return [
            Route("/v1/models", self.models, methods=["GET"]),
            Route("/v1/chat/completions", self.chat, methods=["POST"]),
            Route("/v1/completions", self.text_completions, methods=["POST"]),
        ]

    async def models(self, request: Request) -> Response:
        if (refused := self.context.refusal(request)) is not None:
            return refused
        created = int(time.time())
        data = [
            {"id": i, "object": "model", "created": created, "owned_by": "massgen"}
            for i in self.runs.model_ids()
        ]
        return JSONResponse({"object": "list", "data": data})

    async def chat(self, request: Request) -> Response:
        return await self._run_request(request, text=False)

    async def text_completions(self, request: Request) -> Response:
        return await self._run_request(request, text=True)

    async def _run_request(self, request: Request, *, text: bool) -> Response:
        context = self.context
        if (refused := context.refusal(request)) is not None:
            return refused
        try:
            body = await context.read_json(request)
            check_fields(body, "POST /v1/completions" if text else "POST /v1/chat/completions")
            options = run_options(body, context.request_limits)
            images: list[Any] = []
            history: list[tuple[str, str]] = []
            if text:
                question = _prompt_question(body.get("prompt"))
            else:
                question, history = parse_messages(body.get("messages"))
                images = request_images(body.get("messages"))
            prepared = apply_options(self.runs.resolve(body.get("model")), options)
        except BadRequest as exc:
            return exc.response()
        slot = context.limiter.try_acquire()
        if slot is None:
            return context.busy()
        completion_id = f"{'cmpl' if text else 'chatcmpl'}-{uuid.uuid4().hex}"
        requested = body.get("model")
        model = clean_text(requested) if isinstance(requested, str) and requested else MODEL_NAME
        if body.get("stream"):
            return SSEResponse(
                self._sse(prepared, question, history, images, completion_id, model, text),
                on_close=slot.release,
            )
        try:
            return await self._complete(
                request, prepared, question, history, images, completion_id, model, text
            )
        finally:
            slot.release()

    async def _complete(
        self,
        request: Request,
        prepared: Prepared,
        question: str,
        history: list[tuple[str, str]],
        images: Sequence[Any],
        completion_id: str,
        model: str,
        text: bool,
    ) -> Response:
        """The run's answer as one JSON object; a client that goes away cancels the run."""
        try:
            outcome = await unless_client_leaves(
                request, self.runs.complete(prepared, question, history, images)
            )
        except ClientLeft:
            return Response(status_code=499)
        if isinstance(outcome, NoAnswer):
            return error_response(502, outcome.message, "server_error", "run_failed")
        return JSONResponse(outcome.object(completion_id, model, text=text))

    async def _sse(
        self,
        prepared: Prepared,
        question: str,
        history: list[tuple[str, str]],
        images: Sequence[Any],
        completion_id: str,
        model: str,
        text: bool,
    ) -> AsyncIterator[str]:
        """The run's answer as SSE chunks: the trace as ``reasoning_content`` (chat only),
        the answer's text as it is written, then usage and ``[DONE]``."""
        chunks = Chunks(completion_id, model, text=text)
        run = self.runs.stream(prepared, question, history, images)
        try:
            if not text:
                yield chunks.chunk({"role": "assistant", "content": ""})
            answer = AnswerStream()
            async for event in run:
                if run.line:
                    if not text:
                        yield chunks.chunk({"reasoning_content": run.line})
                else:
                    piece = answer.feed(event)
                    if piece:
                        yield chunks.chunk({"content": piece})
            outcome = run.outcome()
            if isinstance(outcome, NoAnswer):
                yield Chunks.error(outcome)
            else:
                tail = answer.finish(outcome.answer)
                if tail:
                    yield chunks.chunk({"content": tail})
                yield chunks.last(outcome)
            yield DONE
        finally:
            await run.aclose()
