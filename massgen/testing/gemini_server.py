"""A protocol-faithful fake of the Gemini API (``generateContent`` / ``streamGenerateContent``).

Built on :mod:`massgen.testing.chat_server`: the same threaded uvicorn server, scripting API
(:class:`Reply` queues, per model first, then the *brain*), request recording and timing.
Only the wire protocol differs. Brains are shared too: a Gemini request is converted into the
chat-shaped dict brains read (:func:`chat_view`), so the default
:class:`~massgen.testing.chat_server.CoordinationBrain` plays massgen's workflow here as well.

Served (any API version; google-genai 3.x uses ``v1``, older SDKs ``v1beta``)::

    POST /{version}/models/{model}:streamGenerateContent?alt=sse   SSE of GenerateContentResponse
    POST /{version}/models/{model}:generateContent                  one GenerateContentResponse

The key is checked from the ``x-goog-api-key`` header or the ``key`` query parameter, as Google
does: missing -> 403 PERMISSION_DENIED, wrong -> 400 INVALID_ARGUMENT (reason API_KEY_INVALID).
Errors use Google's body ``{"error": {"code", "message", "status", "details"}}``.

Run standalone::

    python -m massgen.testing.gemini_server --port 0 [--ttft S] [--tps N] [--api-key K]

prints its base URL (``http://127.0.0.1:PORT``, what ``HttpOptions.base_url`` takes) first.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from massgen.testing.chat_server import (
    Cut,
    FakeChatServer,
    serve,
)
from massgen.testing.chat_wire import (
    COMPACT,
    Brain,
    Cycle,
    RecordedRequest,
    Reply,
    Send_,
    split_tokens,
)
from massgen.testing.gemini_wire import (
    INVALID_KEY_DETAILS,
    GeminiReply,
    GeminiRequest,
    b64,
    chat_view,
    error_body,
    estimate_prompt_tokens,
    validate,
)
from massgen.testing.media_server import png

__all__ = [
    "FakeGeminiServer",
    "GeminiReply",
    "GeminiRequest",
    "Reply",
    "chat_view",
    "error_body",
]


class FakeGeminiServer(FakeChatServer):
    """The fake Gemini server; the same API as :class:`FakeChatServer` (``url``, ``requests``,
    ``enqueue``, ``enqueue_for``, ``reset``, ``wait_for`` / ``await_for``, context manager).

    ``url`` is the base URL for ``HttpOptions.base_url`` (no API version). With
    ``require_thought_signatures`` a model turn replayed without the ``thoughtSignature`` its
    function call came with is rejected, as Gemini 3 models do.
    """

    def __init__(
        self,
        *,
        ttft: float = 0.0,
        tokens_per_second: float | None = None,
        api_key: str | None = None,
        brain: Brain | None = None,
        port: int = 0,
        require_thought_signatures: bool = False,
    ) -> None:
        super().__init__(
            ttft=ttft, tokens_per_second=tokens_per_second, api_key=api_key, brain=brain, port=port
        )
        self.require_thought_signatures = require_thought_signatures
        self.requests: list[GeminiRequest] = []  # type: ignore[assignment]
        self.app = Starlette(
            routes=[Route("/{version}/models/{target}", self._generate, methods=["POST"])],
            exception_handlers={404: self._not_found, 405: self._not_found},
        )

    def start(self) -> FakeGeminiServer:
        super().start()
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    def __enter__(self) -> FakeGeminiServer:
        return self.start()

    async def _not_found(self, request: Request, exc: Exception) -> JSONResponse:
        status = getattr(exc, "status_code", 404)
        message = f"The requested URL {request.url.path} was not found on this server."
        return JSONResponse(error_body(status, message), status_code=status)

    async def _generate(self, request: Request) -> Response:
        version = request.path_params["version"]
        model, _, method = request.path_params["target"].partition(":")
        headers = {k.lower(): v for k, v in request.headers.items()}
        raw = await request.body()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = None
        record = GeminiRequest(
            body=body if isinstance(body, dict) else {},
            headers=headers,
            started_at=time.monotonic(),
            model_name=model,
            api_version=version,
            method=method,
            query=dict(request.query_params),
        )
        with self._lock:
            self.requests.append(record)

        if method not in ("generateContent", "streamGenerateContent"):
            message = f"The requested URL {request.url.path} was not found on this server."
            return self._google_error(record, 404, message)
        if self.api_key is not None:
            key = headers.get("x-goog-api-key") or request.query_params.get("key")
            if not key:
                return self._google_error(
                    record,
                    403,
                    "Method doesn't allow unregistered callers (callers without established "
                    "identity). Please use API Key or other form of API consumer identity to "
                    "call this API.",
                )
            if key != self.api_key:
                return self._google_error(
                    record,
                    400,
                    "API key not valid. Please pass a valid API key.",
                    details=INVALID_KEY_DETAILS,
                )
        problem = validate(body, self.require_thought_signatures)
        if problem is not None:
            return self._google_error(record, 400, problem)
        reply = self._next_reply(chat_view(body, model))
        if reply.status != 200:
            details = []
            retry_delay = getattr(reply, "retry_delay", None)
            if retry_delay:
                details.append(
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay}
                )
            return self._google_error(
                record,
                reply.status,
                reply.error_message or f"fake error {reply.status}",
                status=reply.error_code,
                details=details,
                headers=reply.headers,
            )
        generation = _Generation(self, body, model, reply)
        if method == "streamGenerateContent":
            if record.query.get("alt") != "sse":  # without alt=sse Google streams a JSON array
                return self._google_error(record, 400, "this fake server only streams alt=sse")
            headers_out = {"content-type": "text/event-stream", **reply.headers}
            produce: Callable[[Send_], Any] = generation.stream
        else:
            headers_out = {"content-type": "application/json; charset=UTF-8", **reply.headers}
            produce = generation.complete
        return Cycle(record, 200, headers_out, produce)

    def _google_error(
        self,
        record: RecordedRequest,
        code: int,
        message: str,
        *,
        status: str | None = None,
        details: Sequence[dict[str, Any]] = (),
        headers: dict[str, str] | None = None,
    ) -> Response:
        record.status = code
        data = json.dumps(error_body(code, message, status, details), indent=2).encode()

        async def produce(write: Send_) -> bool:
            await write(data)
            return True

        out = {"content-type": "application/json; charset=UTF-8", **(headers or {})}
        return Cycle(record, code, out, produce)


#: The output tokens Gemini counts for one generated image.
IMAGE_TOKENS = 1290
#: The pixel shape of each aspect ratio (the fake keeps images small).
ASPECTS = {"1:1": (64, 64), "3:2": (96, 64), "2:3": (64, 96), "16:9": (112, 63), "9:16": (63, 112)}


def image_parts(body: dict[str, Any]) -> list[dict[str, Any]]:
    """An image model's answer: one PNG as ``inlineData`` when ``responseModalities`` asks
    for IMAGE (its shape from ``imageConfig.aspectRatio``), as Gemini's image models do."""
    config = body.get("generationConfig") or body.get("generation_config") or {}
    modalities = config.get("responseModalities") or config.get("response_modalities") or []
    if "IMAGE" not in modalities:
        return []
    image_config = config.get("imageConfig") or config.get("image_config") or {}
    ratio = image_config.get("aspectRatio") or image_config.get("aspect_ratio") or "1:1"
    width, height = ASPECTS.get(ratio, (64, 64))
    return [{"inlineData": {"mimeType": "image/png", "data": b64(png(width, height))}}]


class _Generation:
    """One scripted response as GenerateContentResponse chunks (streamed or whole)."""

    def __init__(
        self, server: FakeGeminiServer, body: dict[str, Any], model: str, reply: Reply
    ) -> None:
        self.body = body
        self.model = model
        self.reply = reply
        self.ttft = server.ttft if reply.ttft is None else reply.ttft
        self.tps = reply.tokens_per_second or server.tokens_per_second
        self.response_id = uuid.uuid4().hex[:22]
        self.get: Callable[[str, Any], Any] = lambda name, default: getattr(reply, name, default)
        self.pieces = self._pieces()
        self.prompt_tokens = (
            reply.prompt_tokens if reply.prompt_tokens is not None else estimate_prompt_tokens(body)
        )
        # Gemini 2.5's implicit caching of repeated prefixes, reported as OpenAI's is here
        cached = reply.cached_tokens
        if cached is None:
            cached = server.prefix_cache.cached_tokens(chat_view(body, model))
        self.cached_tokens = min(cached, self.prompt_tokens)
        thoughts = sum(1 for p in self.pieces if p.get("thought"))
        images = sum(1 for p in self.pieces if "inlineData" in p)
        self.thoughts_tokens = (
            reply.reasoning_tokens if reply.reasoning_tokens is not None else thoughts
        )
        self.candidates_tokens = (
            reply.completion_tokens
            if reply.completion_tokens is not None
            else len(self.pieces) - thoughts + images * (IMAGE_TOKENS - 1)
        )

    def _pieces(self) -> list[dict[str, Any]]:
        """The parts, in order, one per streamed chunk (function calls whole, as Gemini does)."""
        reply = self.reply
        parts: list[dict[str, Any]] = [
            {"text": piece, "thought": True} for piece in split_tokens(reply.reasoning)
        ]
        for code, output in self.get("code_executions", ()):
            parts.append({"executableCode": {"language": "PYTHON", "code": code}})
            parts.append({"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": output}})
        parts.extend({"text": piece} for piece in split_tokens(reply.text))
        parts.extend(image_parts(self.body))
        self.malformed = False
        for index, (name, arguments) in enumerate(reply.tool_calls):
            try:
                args = json.loads(arguments or "{}")
            except ValueError:
                args = None
            if not isinstance(args, dict):
                self.malformed = True
                continue
            call: dict[str, Any] = {"name": name, "args": args}
            if self.get("call_ids", False):
                call["id"] = f"fc_{uuid.uuid4().hex[:16]}"
            part: dict[str, Any] = {"functionCall": call}
            if index == 0 and self.get("thought_signature", True):
                part["thoughtSignature"] = b64(f"sig-{uuid.uuid4().hex}".encode())
            parts.append(part)
        return parts

    def finish_reason(self) -> str:
        if self.malformed:
            return "MALFORMED_FUNCTION_CALL"
        return self.get("finish_reason", None) or "STOP"

    def usage(self, pieces_sent: int | None = None) -> dict[str, Any]:
        """Usage as Gemini reports it: running totals in the stream, complete at the end."""
        if pieces_sent is None:
            thoughts, candidates = self.thoughts_tokens, self.candidates_tokens
        else:
            sent = self.pieces[:pieces_sent]
            thoughts = min(self.thoughts_tokens, sum(1 for p in sent if p.get("thought")))
            candidates = min(self.candidates_tokens, sum(1 for p in sent if not p.get("thought")))
        tool_use = self.get("tool_use_prompt_tokens", 0)
        usage: dict[str, Any] = {
            "promptTokenCount": self.prompt_tokens,
            "totalTokenCount": self.prompt_tokens + candidates + thoughts + tool_use,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": self.prompt_tokens}],
        }
        if candidates:
            usage["candidatesTokenCount"] = candidates
        if thoughts:
            usage["thoughtsTokenCount"] = thoughts
        if self.cached_tokens:
            usage["cachedContentTokenCount"] = self.cached_tokens
        if tool_use:
            usage["toolUsePromptTokenCount"] = tool_use
        return usage

    def grounding(self) -> dict[str, Any] | None:
        queries = list(self.get("search_queries", ()))
        if not queries:
            return None
        chunks = [
            {"web": {"uri": f"https://example.com/{i}", "title": f"example.com/{i}"}}
            for i in range(len(queries))
        ]
        return {
            "webSearchQueries": queries,
            "searchEntryPoint": {"renderedContent": "<div>fake search chips</div>"},
            "groundingChunks": chunks,
        }

    def response(
        self,
        parts: list[dict[str, Any]],
        *,
        usage: dict[str, Any],
        final: bool,
        checkpoint: str | None = None,
    ) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
        if final:
            candidate["finishReason"] = self.finish_reason()
            if self.malformed:
                candidate["finishMessage"] = "Malformed function call: the arguments were not JSON"
            token = self.get("continuation_token", None)
            if token:
                candidate["continuationToken"] = b64(token.encode())
        grounding = self.grounding()
        if grounding and (final or any("text" in p and not p.get("thought") for p in parts)):
            # grounded answers carry the metadata on their text chunks too, repeated
            candidate["groundingMetadata"] = grounding
        if checkpoint:
            candidate["continuationToken"] = b64(checkpoint.encode())
        return {
            "candidates": [candidate],
            "usageMetadata": usage,
            "modelVersion": self.model,
            "responseId": self.response_id,
        }

    def blocked(self) -> dict[str, Any] | None:
        reason = self.get("block_reason", None)
        if not reason:
            return None
        usage = {"promptTokenCount": self.prompt_tokens, "totalTokenCount": self.prompt_tokens}
        return {
            "promptFeedback": {"blockReason": reason},
            "usageMetadata": usage,
            "modelVersion": self.model,
            "responseId": self.response_id,
        }

    async def stream(self, write: Send_) -> bool:
        reply = self.reply
        sent = 0
        start = time.monotonic() + self.ttft

        async def event(payload: dict[str, Any], *, index: int) -> None:
            nonlocal sent
            if reply.drop_after_chunks is not None and sent >= reply.drop_after_chunks:
                raise Cut(clean=False)
            if reply.end_after_chunks is not None and sent >= reply.end_after_chunks:
                raise Cut(clean=True)
            due = start + (index / self.tps if self.tps else 0.0)
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            data = json.dumps(payload, separators=COMPACT)
            await write(f"data: {data}\r\n\r\n".encode())
            sent += 1

        try:
            await asyncio.sleep(self.ttft)
            blocked = self.blocked()
            if blocked is not None:
                await event(blocked, index=0)
                return True
            pieces = self.pieces or [{"text": ""}]
            checkpoints = self.get("checkpoints", False)
            for index, part in enumerate(pieces):
                final = index == len(pieces) - 1 and not reply.error_message
                usage = self.usage() if final else self.usage(index + 1)
                checkpoint = f"checkpoint-{index}" if checkpoints and not final else None
                payload = self.response([part], usage=usage, final=final, checkpoint=checkpoint)
                await event(payload, index=index)
            if reply.error_message:  # an error reported inside the stream, then the end
                error = error_body(500, reply.error_message, reply.error_code)
                await event(error, index=len(pieces))
        except Cut as cut:
            return cut.clean
        return True

    async def complete(self, write: Send_) -> bool:
        pieces = len(self.pieces)
        await asyncio.sleep(self.ttft + (pieces / self.tps if self.tps else 0.0))
        parts: list[dict[str, Any]] = []
        for part in self.pieces:  # whole responses join adjacent text of the same kind
            last = parts[-1] if parts else None
            if (
                last is not None
                and "text" in part
                and "text" in last
                and bool(last.get("thought")) == bool(part.get("thought"))
            ):
                last["text"] += part["text"]
            else:
                parts.append(dict(part))
        payload = self.blocked() or self.response(parts, usage=self.usage(), final=True)
        data = json.dumps(payload, separators=COMPACT).encode()
        if self.reply.drop_after_chunks is not None:  # cut the body short
            await write(data[: len(data) // 2])
            return False
        await write(data)
        return True


def main(argv: Sequence[str] | None = None) -> None:
    serve(FakeGeminiServer, "Fake Gemini API server.", argv)


if __name__ == "__main__":
    main()
