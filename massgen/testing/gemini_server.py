"""A protocol-faithful fake of the Gemini API (``generateContent`` / ``streamGenerateContent``).

Built on :mod:`tests.fakes.chat_server`: the same threaded uvicorn server, scripting API
(:class:`Reply` queues, per model first, then the *brain*), request recording and timing.
Only the wire protocol differs. Brains are shared too: a Gemini request is converted into the
chat-shaped dict brains read (:func:`chat_view`), so the default
:class:`~tests.fakes.chat_server.CoordinationBrain` plays massgen's workflow here as well.

Served (any API version; google-genai 3.x uses ``v1``, older SDKs ``v1beta``)::

    POST /{version}/models/{model}:streamGenerateContent?alt=sse   SSE of GenerateContentResponse
    POST /{version}/models/{model}:generateContent                  one GenerateContentResponse

The key is checked from the ``x-goog-api-key`` header or the ``key`` query parameter, as Google
does: missing -> 403 PERMISSION_DENIED, wrong -> 400 INVALID_ARGUMENT (reason API_KEY_INVALID).
Errors use Google's body ``{"error": {"code", "message", "status", "details"}}``.

Run standalone::

    python -m tests.fakes.gemini_server --port 0 [--ttft S] [--tps N] [--api-key K]

prints its base URL (``http://127.0.0.1:PORT``, what ``HttpOptions.base_url`` takes) first.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.chat_server import (
    _COMPACT,
    Brain,
    FakeChatServer,
    RecordedRequest,
    Reply,
    Send_,
    _Cut,
    _Cycle,
    serve,
    split_tokens,
)

__all__ = [
    "FakeGeminiServer",
    "GeminiReply",
    "GeminiRequest",
    "Reply",
    "chat_view",
    "error_body",
]


@dataclass
class GeminiReply(Reply):
    """A :class:`Reply` with what only Gemini has. Plain :class:`Reply` objects work too.

    Inherited fields map as: ``reasoning`` -> ``thought`` parts, ``tool_calls`` ->
    ``functionCall`` parts (arguments that are not a JSON object make the server answer
    ``MALFORMED_FUNCTION_CALL`` instead, as Gemini does), ``completion_tokens`` ->
    ``candidatesTokenCount`` (which excludes thinking on Gemini), ``reasoning_tokens`` ->
    ``thoughtsTokenCount``, ``cached_tokens`` -> ``cachedContentTokenCount``, ``error_code`` ->
    the error's ``status`` name. With status 200 a non-empty ``error_message`` is sent as an
    error event inside the stream.
    """

    code_executions: Sequence[tuple[str, str]] = ()  # (code, output) run by the provider
    search_queries: Sequence[str] = ()  # web searches reported in groundingMetadata
    call_ids: bool = False  # give functionCall parts an ``id`` (newer models do)
    thought_signature: bool = True  # sign the first functionCall part (Gemini 2.5+)
    finish_reason: str | None = None  # default STOP (also for function calls)
    continuation_token: str | None = None  # with finish_reason CONTINUATION: resume token
    checkpoints: bool = False  # every chunk carries a mid-stream continuationToken
    retry_delay: str | None = None  # e.g. "2s": a google.rpc.RetryInfo detail on errors
    tool_use_prompt_tokens: int = 0  # toolUsePromptTokenCount (search results read)
    block_reason: str | None = None  # e.g. "SAFETY": promptFeedback and no candidates


@dataclass
class GeminiRequest(RecordedRequest):
    """A ``POST /{version}/models/{model}:{method}`` the server received."""

    model_name: str = ""
    api_version: str = ""
    method: str = ""  # generateContent or streamGenerateContent
    query: dict[str, str] = field(default_factory=dict)

    @property
    def model(self) -> str:
        return self.model_name

    @property
    def stream(self) -> bool:
        return self.method == "streamGenerateContent"


# ------------------------------------------------------------------- Gemini -> chat shape


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _get(obj: Any, name: str, default: Any = None) -> Any:
    """A field by its JSON (lowerCamel) name or its proto (snake_case) name: Google's JSON
    parser accepts both, and the SDK sends some nested fields in snake_case."""
    if not isinstance(obj, dict):
        return default
    if name in obj:
        return obj[name]
    return obj.get(_snake(name), default)


def _parts_text(content: Any, *, thoughts: bool = False) -> str:
    parts = (content or {}).get("parts") or () if isinstance(content, dict) else ()
    return "".join(
        str(p.get("text", ""))
        for p in parts
        if isinstance(p, dict) and "text" in p and bool(p.get("thought")) == thoughts
    )


def chat_view(body: dict[str, Any], model: str) -> dict[str, Any]:
    """The request as the chat-shaped dict brains read: ``model``, ``messages`` (system /
    user / assistant with ``tool_calls`` / tool) and ``tools`` (``type: function``)."""
    messages: list[dict[str, Any]] = []
    system = _parts_text(_get(body, "systemInstruction"))
    if system:
        messages.append({"role": "system", "content": system})
    for content in body.get("contents") or ():
        if not isinstance(content, dict):
            continue
        parts = [p for p in content.get("parts") or () if isinstance(p, dict)]
        if content.get("role") == "model":
            calls = [
                {
                    "id": _get(p, "functionCall").get("id") or f"call_{i}",
                    "type": "function",
                    "function": {
                        "name": _get(p, "functionCall").get("name", ""),
                        "arguments": json.dumps(_get(p, "functionCall").get("args") or {}),
                    },
                }
                for i, p in enumerate(parts)
                if isinstance(_get(p, "functionCall"), dict)
            ]
            message: dict[str, Any] = {"role": "assistant", "content": _parts_text(content)}
            if calls:
                message["tool_calls"] = calls
            messages.append(message)
            continue
        for part in parts:
            response = _get(part, "functionResponse")
            if isinstance(response, dict):
                messages.append(
                    {
                        "role": "tool",
                        "tool_call_id": response.get("id"),
                        "name": response.get("name"),
                        "content": json.dumps(response.get("response")),
                    }
                )
        text = _parts_text(content)
        if text:
            messages.append({"role": "user", "content": text})
    tools = [
        {
            "type": "function",
            "function": {
                "name": d.get("name", ""),
                "description": d.get("description", ""),
                "parameters": _get(d, "parametersJsonSchema") or d.get("parameters") or {},
            },
        }
        for tool in body.get("tools") or ()
        if isinstance(tool, dict)
        for d in _get(tool, "functionDeclarations") or ()
        if isinstance(d, dict)
    ]
    view: dict[str, Any] = {"model": model, "messages": messages}
    if tools:
        view["tools"] = tools
    return view


# ------------------------------------------------------------------------ wire helpers

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def error_body(
    code: int,
    message: str,
    status: str | None = None,
    details: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """A Google API error body."""
    error: dict[str, Any] = {
        "code": code,
        "message": message,
        "status": status or STATUS_NAMES.get(code, "UNKNOWN"),
    }
    if details:
        error["details"] = list(details)
    return {"error": error}


_INVALID_KEY_DETAILS = (
    {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "API_KEY_INVALID",
        "domain": "googleapis.com",
        "metadata": {"service": "generativelanguage.googleapis.com"},
    },
    {
        "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
        "locale": "en-US",
        "message": "API key not valid. Please pass a valid API key.",
    },
)

#: Top-level fields of a GenerateContentRequest; anything else is rejected like Google does.
REQUEST_FIELDS = frozenset(
    {
        "contents",
        "systemInstruction",
        "tools",
        "toolConfig",
        "generationConfig",
        "safetySettings",
        "cachedContent",
        "labels",
        "continuationToken",
        "store",
        "serviceTier",
    }
)


_SNAKE_FIELDS = frozenset(_snake(name) for name in REQUEST_FIELDS)


def _validate(body: Any, require_thought_signatures: bool) -> str | None:
    """The message of a 400 INVALID_ARGUMENT for an invalid request, like Gemini's checks."""
    if not isinstance(body, dict):
        return "Invalid JSON payload received. Expected an object."
    for name in body:
        if name not in REQUEST_FIELDS and name not in _SNAKE_FIELDS:
            return f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.'
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        return "* GenerateContentRequest.contents: contents is not specified"
    pending_calls = 0
    for i, content in enumerate(contents):
        role = content.get("role") if isinstance(content, dict) else None
        parts = content.get("parts") if isinstance(content, dict) else None
        if role not in ("user", "model"):
            return f"Please use a valid role: user, model. (contents[{i}].role: {role!r})"
        if not isinstance(parts, list) or not parts:
            return (
                f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty."
            )
        calls = [p for p in parts if isinstance(_get(p, "functionCall"), dict)]
        responses = [p for p in parts if isinstance(_get(p, "functionResponse"), dict)]
        if role == "model":
            for call in calls:
                if not isinstance(_get(call, "functionCall").get("args", {}), dict):
                    return f"* contents[{i}]: functionCall.args must be an object"
            signed = _get(calls[0], "thoughtSignature") if calls else None
            if calls and require_thought_signatures and not signed:
                name = _get(calls[0], "functionCall").get("name", "")
                return (
                    "Function call is missing a thought_signature in functionCall parts. This "
                    "is required for tools to work correctly, and missing thought_signature may "
                    "lead to degraded model performance. Additional data, function call "
                    f"`default_api:{name}` , position {i + 1}. Please refer to "
                    "https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
                )
            pending_calls = len(calls)
        elif responses:
            if len(responses) != pending_calls:
                return (
                    "Please ensure that the number of function response parts is equal to the "
                    "number of function call parts of the function call turn."
                )
            pending_calls = 0
    return None


def _estimate_prompt_tokens(body: dict[str, Any]) -> int:
    chars = len(json.dumps(body.get("contents") or [])) + len(
        json.dumps(_get(body, "systemInstruction") or {})
    )
    return max(1, chars // 4)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


# ----------------------------------------------------------------------------- server


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
                    details=_INVALID_KEY_DETAILS,
                )
        problem = _validate(body, self.require_thought_signatures)
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
        return _Cycle(record, 200, headers_out, produce)

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
        return _Cycle(record, code, out, produce)


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
            reply.prompt_tokens
            if reply.prompt_tokens is not None
            else _estimate_prompt_tokens(body)
        )
        # Gemini 2.5's implicit caching of repeated prefixes, reported as OpenAI's is here
        cached = reply.cached_tokens
        if cached is None:
            cached = server.prefix_cache.cached_tokens(chat_view(body, model))
        self.cached_tokens = min(cached, self.prompt_tokens)
        thoughts = sum(1 for p in self.pieces if p.get("thought"))
        self.thoughts_tokens = (
            reply.reasoning_tokens if reply.reasoning_tokens is not None else thoughts
        )
        self.candidates_tokens = (
            reply.completion_tokens
            if reply.completion_tokens is not None
            else len(self.pieces) - thoughts
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
                part["thoughtSignature"] = _b64(f"sig-{uuid.uuid4().hex}".encode())
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
                candidate["continuationToken"] = _b64(token.encode())
        grounding = self.grounding()
        if grounding and (final or any("text" in p and not p.get("thought") for p in parts)):
            # grounded answers carry the metadata on their text chunks too, repeated
            candidate["groundingMetadata"] = grounding
        if checkpoint:
            candidate["continuationToken"] = _b64(checkpoint.encode())
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
                raise _Cut(clean=False)
            if reply.end_after_chunks is not None and sent >= reply.end_after_chunks:
                raise _Cut(clean=True)
            due = start + (index / self.tps if self.tps else 0.0)
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            data = json.dumps(payload, separators=_COMPACT)
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
        except _Cut as cut:
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
        data = json.dumps(payload, separators=_COMPACT).encode()
        if self.reply.drop_after_chunks is not None:  # cut the body short
            await write(data[: len(data) // 2])
            return False
        await write(data)
        return True


def main(argv: Sequence[str] | None = None) -> None:
    serve(FakeGeminiServer, "Fake Gemini API server.", argv)


if __name__ == "__main__":
    main()
